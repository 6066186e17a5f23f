package dht

import (
	"net"
	"net/netip"
)

// family is an address family, and the index of its routing table: the
// IPv4 and IPv6 DHTs are independent (BEP 32), sharing only our node id.
type family uint8

const (
	fam4 family = iota
	fam6
	numFams
)

// famSet is a set of address families.
type famSet uint8

const (
	set4    famSet = 1 << fam4
	set6    famSet = 1 << fam6
	setBoth        = set4 | set6
)

func familyOf(ip netip.Addr) family {
	if ip.Unmap().Is4() {
		return fam4
	}
	return fam6
}

func (s famSet) has(f family) bool { return s&(1<<f) != 0 }

// hasAddr reports whether ip is of a family in s.
func (s famSet) hasAddr(ip netip.Addr) bool { return ip.IsValid() && s.has(familyOf(ip)) }

// wantKey is the BEP 32 "want" flag of a family.
func (f family) wantKey() string {
	if f == fam4 {
		return "n4"
	}
	return "n6"
}

// socketFamilies returns the families a socket bound to local can send to
// and receive from: IPv4 when bound to an IPv4 address (or to nothing we
// know), IPv6 when bound to a specific IPv6 address, and both when bound
// to the IPv6 unspecified address, unless the socket is IPv6-only
// (IPV6_V6ONLY, as Go sets for "udp6" listeners).
func socketFamilies(local netip.AddrPort, conn net.PacketConn) famSet {
	ip := local.Addr()
	switch {
	case !ip.IsValid(), ip.Is4():
		return set4
	case !ip.IsUnspecified():
		return set6
	}
	if c, ok := conn.(*net.UDPConn); ok && v6only(c) {
		return set6
	}
	return setBoth
}

// ipKey is the key under which ip is counted by the per-IP bounds: the
// address itself for IPv4, its /64 for IPv6, since one host commonly
// holds a whole /64.
func ipKey(ip netip.Addr) netip.Addr {
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.Addr()
	}
	return ip
}
