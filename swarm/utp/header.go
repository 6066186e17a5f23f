package utp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Packet types (BEP 29). The type lives in the high nibble of a packet's
// first byte, the protocol version (always 1) in the low nibble.
const (
	stData  = 0 // payload
	stFin   = 1 // last packet: the sender sends nothing after it
	stState = 2 // ack only; does not take a sequence number
	stReset = 3 // the connection is terminated
	stSyn   = 4 // opens a connection
	stMax   = stSyn

	version = 1

	headerLen = 20

	// extension types
	extNone = 0
	extSACK = 1

	// maxSACKBytes bounds the selective-ack bitmask we send (256 packets).
	maxSACKBytes = 32
)

var typeNames = [...]string{"ST_DATA", "ST_FIN", "ST_STATE", "ST_RESET", "ST_SYN"}

var (
	errShort     = errors.New("utp: packet shorter than the 20-byte header")
	errVersion   = errors.New("utp: not a version 1 packet")
	errType      = errors.New("utp: unknown packet type")
	errExtension = errors.New("utp: malformed extension chain")
)

// header is one decoded uTP packet header. sack aliases the packet it was
// decoded from: it is valid only while that buffer is.
type header struct {
	typ    uint8
	connID uint16
	ts     uint32 // sender's clock, microseconds
	tsDiff uint32 // sender's clock minus our timestamp of the last packet it got
	wnd    uint32 // bytes the sender can still buffer
	seq    uint16
	ack    uint16
	sack   []byte // selective ack bitmask, nil if absent
}

// IsUTP reports whether a UDP payload looks like a uTP packet: a version 1
// header of a known type followed by a well-formed extension chain. DHT
// messages (bencoded dictionaries, starting with 'd') never pass.
func IsUTP(b []byte) bool {
	_, _, err := parsePacket(b)
	return err == nil
}

// parsePacket decodes the header and the extension chain of b and returns
// the payload that follows them. Unknown extensions are skipped; the first
// selective-ack extension is kept in h.sack. It never allocates.
func parsePacket(b []byte) (h header, payload []byte, err error) {
	if len(b) < headerLen {
		return h, nil, errShort
	}
	if b[0]&0x0f != version {
		return h, nil, errVersion
	}
	h.typ = b[0] >> 4
	if h.typ > stMax {
		return h, nil, errType
	}
	h.connID = binary.BigEndian.Uint16(b[2:])
	h.ts = binary.BigEndian.Uint32(b[4:])
	h.tsDiff = binary.BigEndian.Uint32(b[8:])
	h.wnd = binary.BigEndian.Uint32(b[12:])
	h.seq = binary.BigEndian.Uint16(b[16:])
	h.ack = binary.BigEndian.Uint16(b[18:])

	ext := b[1]
	rest := b[headerLen:]
	for ext != extNone {
		// Each extension is: next-extension type, length, data.
		if len(rest) < 2 {
			return h, nil, fmt.Errorf("%w: header of extension %d truncated", errExtension, ext)
		}
		next, n := rest[0], int(rest[1])
		if len(rest)-2 < n {
			return h, nil, fmt.Errorf("%w: extension %d claims %d bytes, %d left", errExtension, ext, n, len(rest)-2)
		}
		if ext == extSACK && h.sack == nil && n > 0 {
			h.sack = rest[2 : 2+n : 2+n]
		}
		rest = rest[2+n:]
		ext = next
	}
	return h, rest, nil
}

// appendHeader appends h (and its selective ack, if any) to b.
func appendHeader(b []byte, h *header) []byte {
	ext := byte(extNone)
	if len(h.sack) > 0 {
		ext = extSACK
	}
	b = append(b, h.typ<<4|version, ext)
	b = binary.BigEndian.AppendUint16(b, h.connID)
	b = binary.BigEndian.AppendUint32(b, h.ts)
	b = binary.BigEndian.AppendUint32(b, h.tsDiff)
	b = binary.BigEndian.AppendUint32(b, h.wnd)
	b = binary.BigEndian.AppendUint16(b, h.seq)
	b = binary.BigEndian.AppendUint16(b, h.ack)
	if ext == extSACK {
		b = append(b, extNone, byte(len(h.sack)))
		b = append(b, h.sack...)
	}
	return b
}

// putHeader writes the fixed 20-byte header (no extensions) into b[:20].
func putHeader(b []byte, h *header) {
	_ = b[headerLen-1]
	b[0] = h.typ<<4 | version
	b[1] = extNone
	binary.BigEndian.PutUint16(b[2:], h.connID)
	binary.BigEndian.PutUint32(b[4:], h.ts)
	binary.BigEndian.PutUint32(b[8:], h.tsDiff)
	binary.BigEndian.PutUint32(b[12:], h.wnd)
	binary.BigEndian.PutUint16(b[16:], h.seq)
	binary.BigEndian.PutUint16(b[18:], h.ack)
}

func (h *header) String() string {
	name := "?"
	if int(h.typ) < len(typeNames) {
		name = typeNames[h.typ]
	}
	return fmt.Sprintf("%s id=%d seq=%d ack=%d wnd=%d sack=%d", name, h.connID, h.seq, h.ack, h.wnd, len(h.sack))
}

// Sequence-number arithmetic with 16-bit wraparound.

// seqDiff returns a-b as a signed distance.
func seqDiff(a, b uint16) int { return int(int16(a - b)) }

// seqLess reports whether a comes before b.
func seqLess(a, b uint16) bool { return int16(a-b) < 0 }
