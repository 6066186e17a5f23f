package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Default and ceiling values of Limits.
const (
	DefaultMaxBitfield = 1 << 20
	DefaultMaxExtended = 1 << 20
	DefaultMaxUnknown  = 64 << 10
	// MaxLimit caps every Limits field; larger values are lowered to it.
	MaxLimit = 64 << 20
)

// Limits bounds the payloads a peer may send. Zero or negative fields take
// their defaults; fields above MaxLimit are lowered to it.
type Limits struct {
	MaxBitfield int // max bitfield payload bytes; 0 = 1<<20 default. Engine passes ceil(numPieces/8) exactly when known.
	MaxExtended int // max extended payload (after the extended ID); 0 = 1 MiB default
	MaxUnknown  int // max payload of unknown message IDs (skipped/returned); 0 = 64 KiB default
}

func limit(v, def int) int {
	switch {
	case v <= 0:
		return def
	case v > MaxLimit:
		return MaxLimit
	}
	return v
}

func (l Limits) norm() Limits {
	return Limits{
		MaxBitfield: limit(l.MaxBitfield, DefaultMaxBitfield),
		MaxExtended: limit(l.MaxExtended, DefaultMaxExtended),
		MaxUnknown:  limit(l.MaxUnknown, DefaultMaxUnknown),
	}
}

// maxLen returns the largest legal length prefix under the normalized l.
func (l Limits) maxLen() int {
	return max(13, 9+MaxBlockLen, 1+l.MaxBitfield, 2+l.MaxExtended, 1+l.MaxUnknown)
}

// checkLen checks the length prefix n (ID byte included, n >= 1) of a
// message of id against the normalized limits l.
func checkLen(id ID, n int, l Limits) error {
	if want := fixedLen(id); want != 0 {
		if n != want {
			return protoErrorf("wire: %v message: length %d, want %d", id, n, want)
		}
		return nil
	}
	lo, hi := 1, 1+l.MaxUnknown
	switch id {
	case Piece:
		lo, hi = 10, 9+MaxBlockLen
	case Bitfield:
		hi = 1 + l.MaxBitfield
	case Extended:
		lo, hi = 2, 2+l.MaxExtended
	}
	if n < lo {
		return protoErrorf("wire: %v message: length %d too short", id, n)
	}
	if n > hi {
		return protoErrorf("wire: %v message: length %d too long, max %d", id, n, hi)
	}
	return nil
}

// parse fills a message of id from body (the bytes after the ID, whose
// length checkLen has accepted). Payload aliases body.
func parse(id ID, body []byte) (Message, error) {
	m := Message{ID: id}
	switch id {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
	case Have, Suggest, AllowedFast:
		m.Index = binary.BigEndian.Uint32(body)
	case Request, Cancel, Reject:
		m.Index = binary.BigEndian.Uint32(body)
		m.Begin = binary.BigEndian.Uint32(body[4:])
		m.Length = binary.BigEndian.Uint32(body[8:])
		if m.Length == 0 || m.Length > MaxBlockLen {
			return Message{}, protoErrorf("wire: %v message: block length %d out of range 1..%d", id, m.Length, MaxBlockLen)
		}
	case Port:
		m.Port = binary.BigEndian.Uint16(body)
	case Piece:
		m.Index = binary.BigEndian.Uint32(body)
		m.Begin = binary.BigEndian.Uint32(body[4:])
		m.Payload = body[8:]
	case Extended:
		m.ExtID = body[0]
		m.Payload = body[1:]
	default: // Bitfield and unknown IDs
		m.Payload = body
	}
	return m, nil
}

// Decode decodes exactly one message from b, which must hold the whole
// length-prefixed message and nothing more. Payload aliases b.
func Decode(b []byte, lim Limits) (Message, error) {
	lim = lim.norm()
	if len(b) < 4 {
		return Message{}, fmt.Errorf("wire: message: %d bytes, no length prefix: %w", len(b), io.ErrUnexpectedEOF)
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 {
		if len(b) != 4 {
			return Message{}, protoErrorf("wire: keep-alive message: %d trailing bytes", len(b)-4)
		}
		return Message{KeepAlive: true}, nil
	}
	if int64(n) > int64(lim.maxLen()) {
		return Message{}, protoErrorf("wire: message: length %d too long, max %d", n, lim.maxLen())
	}
	if len(b) < 5 {
		return Message{}, fmt.Errorf("wire: message: no id: %w", io.ErrUnexpectedEOF)
	}
	id := ID(b[4])
	if err := checkLen(id, int(n), lim); err != nil {
		return Message{}, err
	}
	switch body := b[5:]; {
	case len(body) < int(n)-1:
		return Message{}, fmt.Errorf("wire: %v message: %d of %d bytes: %w", id, len(body)+1, n, io.ErrUnexpectedEOF)
	case len(body) > int(n)-1:
		return Message{}, protoErrorf("wire: %v message: %d trailing bytes", id, len(body)-int(n)+1)
	default:
		return parse(id, body)
	}
}
