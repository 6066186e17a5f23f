package tracker

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// BEP 15 datagrams: building requests, checking answers.

// udpReply is what a datagram meant for the exchange.
type udpReply struct {
	ignore  bool // not for us: short, another transaction, another action
	timeout bool // set by roundTrip only
	connID  uint64
	resp    *Response
}

// parseUDPReply checks a datagram received while waiting for the answer to
// the request with transaction id tid and action want (connect or
// announce). Datagrams that do not answer it are ignored; an answer that is
// malformed is an error; an error action is a *FailureError. addrLen is 4
// or 16, the peer address size the tracker's address family implies.
func parseUDPReply(b []byte, want, tid uint32, addrLen int) (udpReply, error) {
	if len(b) < errorHdrLen || binary.BigEndian.Uint32(b[4:8]) != tid {
		return udpReply{ignore: true}, nil
	}
	switch action := binary.BigEndian.Uint32(b[0:4]); {
	case action == actionError:
		msg := b[errorHdrLen:]
		if len(msg) > maxReasonLen {
			msg = msg[:maxReasonLen]
		}
		return udpReply{}, &FailureError{Reason: strings.ToValidUTF8(string(msg), "\uFFFD")}
	case action != want:
		return udpReply{ignore: true}, nil
	case want == actionConnect:
		if len(b) < connectRespLen {
			return udpReply{}, fmt.Errorf("connect response is %d bytes, want %d", len(b), connectRespLen)
		}
		return udpReply{connID: binary.BigEndian.Uint64(b[8:16])}, nil
	}
	size := addrLen + 2
	if len(b) < announceHdrLen || (len(b)-announceHdrLen)%size != 0 {
		return udpReply{}, fmt.Errorf("announce response is %d bytes, want %d plus a multiple of %d",
			len(b), announceHdrLen, size)
	}
	r := &Response{
		Interval:   seconds(int64(int32(binary.BigEndian.Uint32(b[8:12]))), defaultInterval),
		Incomplete: count(int64(int32(binary.BigEndian.Uint32(b[12:16])))),
		Complete:   count(int64(int32(binary.BigEndian.Uint32(b[16:20])))),
	}
	add := peerAdder(r)
	compactPeers(string(b[announceHdrLen:]), addrLen, add)
	return udpReply{resp: r}, nil
}

func appendConnect(b []byte, tid uint32) []byte {
	b = binary.BigEndian.AppendUint64(b, udpProtocolID)
	b = binary.BigEndian.AppendUint32(b, actionConnect)
	return binary.BigEndian.AppendUint32(b, tid)
}

func appendAnnounce(b []byte, connID uint64, tid uint32, req Request) []byte {
	b = binary.BigEndian.AppendUint64(b, connID)
	b = binary.BigEndian.AppendUint32(b, actionAnnounce)
	b = binary.BigEndian.AppendUint32(b, tid)
	b = append(b, req.InfoHash[:]...)
	b = append(b, req.PeerID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(max(req.Downloaded, 0)))
	b = binary.BigEndian.AppendUint64(b, uint64(max(req.Left, 0)))
	b = binary.BigEndian.AppendUint64(b, uint64(max(req.Uploaded, 0)))
	b = binary.BigEndian.AppendUint32(b, udpEvent(req.Event))
	b = binary.BigEndian.AppendUint32(b, 0) // IP: the packet's source
	b = binary.BigEndian.AppendUint32(b, req.Key)
	numWant := int32(-1)
	if req.NumWant >= 0 {
		numWant = int32(min(req.NumWant, math.MaxInt32))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(numWant))
	return binary.BigEndian.AppendUint16(b, req.Port)
}

// udpEvent maps an Event to BEP 15's numbering, which differs from ours.
func udpEvent(e Event) uint32 {
	switch e {
	case EventCompleted:
		return 1
	case EventStarted:
		return 2
	case EventStopped:
		return 3
	}
	return 0
}
