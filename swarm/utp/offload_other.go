//go:build !linux

package utp

import (
	"errors"
	"net"
	"net/netip"
)

func enableOffload(net.PacketConn) (gso, gro bool) { return false, false }

func writeGSO(*net.UDPConn, []byte, []byte, int, netip.AddrPort) error {
	return errors.New("utp: no segmentation offload on this system")
}

func groSegment([]byte) int { return 0 }
