package dht

import (
	"net"
	"syscall"
)

// v6only reports whether c, an IPv6 socket, refuses IPv4 (IPV6_V6ONLY).
// When that cannot be read, c is taken to be dual-stack.
func v6only(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	v := 0
	var serr error
	if err := rc.Control(func(fd uintptr) {
		v, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY)
	}); err != nil || serr != nil {
		return false
	}
	return v != 0
}
