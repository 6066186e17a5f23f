//go:build linux

package utp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// UDP segmentation offload (Linux 4.18+) and receive coalescing (5.0+):
// one sendmsg carries several equal-sized datagrams, one recvmsg returns
// several. On loopback a batch crosses the stack as one packet.
const (
	solUDP     = 17  // IPPROTO_UDP
	udpSegment = 103 // UDP_SEGMENT: segment size of a send, in a control message
	udpGRO     = 104 // UDP_GRO: socket option; segment size of a read, in a control message
)

// enableOffload turns on receive coalescing and reports which offloads
// the socket supports.
func enableOffload(pc net.PacketConn) (gso, gro bool) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return false, false
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return false, false
	}
	rc.Control(func(fd uintptr) {
		_, err := syscall.GetsockoptInt(int(fd), solUDP, udpSegment)
		gso = err == nil
		gro = syscall.SetsockoptInt(int(fd), solUDP, udpGRO, 1) == nil
	})
	return gso, gro
}

// gsoOOB returns the control message asking for segments of seg bytes.
func gsoOOB(buf []byte, seg int) []byte {
	space := syscall.CmsgSpace(2)
	if cap(buf) < space {
		buf = make([]byte, space)
	}
	buf = buf[:space]
	clear(buf)
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&buf[0]))
	h.Level = solUDP
	h.Type = udpSegment
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(buf[syscall.CmsgLen(0):], uint16(seg))
	return buf
}

// writeGSO sends b as datagrams of seg bytes (the last may be shorter).
func writeGSO(uc *net.UDPConn, b, oob []byte, seg int, to netip.AddrPort) error {
	_, _, err := uc.WriteMsgUDPAddrPort(b, gsoOOB(oob, seg), to)
	return err
}

// groSegment returns the segment size of a coalesced read, 0 if none.
func groSegment(oob []byte) int {
	for len(oob) >= syscall.CmsgLen(0) {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < syscall.CmsgLen(0) || n > len(oob) {
			return 0
		}
		if h.Level == solUDP && h.Type == udpGRO && n >= syscall.CmsgLen(4) {
			return int(binary.NativeEndian.Uint32(oob[syscall.CmsgLen(0):]))
		}
		oob = oob[min(len(oob), syscall.CmsgSpace(n-syscall.CmsgLen(0))):]
	}
	return 0
}
