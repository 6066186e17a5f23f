package metainfo

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// parsePeer parses a BEP 9 x.pe value: "ipv4-literal:port",
// "[ipv6-literal]:port" or "hostname:port". It returns either the address
// of an IP literal, or for a host name "host:port" with the host in lower
// case and the port in canonical decimal.
func parsePeer(s string) (netip.AddrPort, string, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, "", errors.New("want HOST:PORT, an IPv6 host in brackets")
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, "", fmt.Errorf("port %q is not in 1-65535", portStr)
	}
	if strings.HasPrefix(s, "[") {
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return netip.AddrPort{}, "", fmt.Errorf("%q in brackets is not an IPv6 address without a zone", host)
		}
		return netip.AddrPortFrom(addr, uint16(port)), "", nil
	}
	if addr, err := netip.ParseAddr(host); err == nil && addr.Is4() {
		return netip.AddrPortFrom(addr, uint16(port)), "", nil
	}
	if !validHostName(host) {
		return netip.AddrPort{}, "", fmt.Errorf("%q is not an IP address or host name", host)
	}
	return netip.AddrPort{}, net.JoinHostPort(strings.ToLower(host), strconv.FormatUint(port, 10)), nil
}

// validHostName reports whether h is a DNS host name: labels of 1 to 63
// letters, digits, '-' or '_', an optional final dot, at most 253 bytes,
// and a last label that is not all digits (so "300.1.1.1" is rejected
// rather than looked up).
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}
