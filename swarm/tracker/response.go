package tracker

import (
	"errors"
	"math"
	"net/netip"
	"time"
)

const (
	defaultInterval = 30 * time.Minute
	maxInterval     = 24 * time.Hour
)

// decodeResponse turns a tracker's bencoded body into a Response, or a
// *FailureError when the tracker reported one. Known keys of an unexpected
// type are treated as absent.
func decodeResponse(body []byte) (*Response, error) {
	v, err := decodeBencode(body)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("response is not a dictionary")
	}
	if reason, ok := m["failure reason"].(string); ok {
		return nil, &FailureError{Reason: reason}
	}
	r := &Response{
		Interval:    seconds(m["interval"], defaultInterval),
		MinInterval: seconds(m["min interval"], 0),
		Complete:    count(m["complete"]),
		Incomplete:  count(m["incomplete"]),
	}
	r.Warning, _ = m["warning message"].(string)
	r.TrackerID, _ = m["tracker id"].(string)

	add := peerAdder(r)
	switch p := m["peers"].(type) {
	case string:
		compactPeers(p, 4, add)
	case []any:
		for _, e := range p {
			dictPeer(e, add)
		}
	}
	if p, ok := m["peers6"].(string); ok {
		compactPeers(p, 16, add)
	}
	return r, nil
}

// peerAdder returns a function appending usable peers to r.Peers, each
// once.
func peerAdder(r *Response) func(netip.AddrPort) {
	seen := make(map[netip.AddrPort]bool)
	return func(ap netip.AddrPort) {
		if !usable(ap) || seen[ap] {
			return
		}
		seen[ap] = true
		r.Peers = append(r.Peers, ap)
	}
}

// seconds converts an interval in seconds, clamping it to (0, maxInterval];
// a missing or non-positive value yields def.
func seconds(v any, def time.Duration) time.Duration {
	n, ok := v.(int64)
	if !ok || n <= 0 {
		return def
	}
	if n > int64(maxInterval/time.Second) {
		return maxInterval
	}
	return time.Duration(n) * time.Second
}

// count clamps a peer count to [0, MaxInt32].
func count(v any) int {
	n, _ := v.(int64)
	return int(max(0, min(n, math.MaxInt32)))
}

// compactPeers splits s into entries of an addrLen-byte address followed by
// a big-endian port; a trailing partial entry is ignored.
func compactPeers(s string, addrLen int, add func(netip.AddrPort)) {
	size := addrLen + 2
	for ; len(s) >= size; s = s[size:] {
		addr, ok := netip.AddrFromSlice([]byte(s[:addrLen]))
		if !ok {
			continue
		}
		port := uint16(s[addrLen])<<8 | uint16(s[addrLen+1])
		add(netip.AddrPortFrom(addr.Unmap(), port))
	}
}

// dictPeer adds a {"ip", "port"} dictionary entry. Host names are skipped:
// resolving them is the caller's policy, not the protocol's.
func dictPeer(e any, add func(netip.AddrPort)) {
	d, ok := e.(map[string]any)
	if !ok {
		return
	}
	ip, _ := d["ip"].(string)
	port, ok := d["port"].(int64)
	if !ok || port < 1 || port > math.MaxUint16 {
		return
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil || addr.Zone() != "" {
		return
	}
	add(netip.AddrPortFrom(addr.Unmap(), uint16(port)))
}

// usable rejects addresses no peer can be dialled at.
func usable(ap netip.AddrPort) bool {
	a := ap.Addr()
	return ap.Port() != 0 && a.IsValid() && !a.IsUnspecified() && !a.IsMulticast()
}
