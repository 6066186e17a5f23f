//go:build !linux

package dht

import "net"

// v6only reports whether c refuses IPv4; off Linux it is not read and c,
// bound to the IPv6 unspecified address, is taken to be dual-stack (a
// send to an IPv4 node then fails like any unreachable node).
func v6only(*net.UDPConn) bool { return false }
