package wire

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
)

// MaxBlockLen is the largest piece or request length accepted from a peer.
const MaxBlockLen = 128 * 1024

// ID identifies a message type.
type ID uint8

// Message IDs of BEP 3, BEP 6 and BEP 10.
const (
	Choke         ID = 0
	Unchoke       ID = 1
	Interested    ID = 2
	NotInterested ID = 3
	Have          ID = 4
	Bitfield      ID = 5
	Request       ID = 6
	Piece         ID = 7
	Cancel        ID = 8
	Port          ID = 9

	Suggest     ID = 0x0D
	HaveAll     ID = 0x0E
	HaveNone    ID = 0x0F
	Reject      ID = 0x10
	AllowedFast ID = 0x11

	Extended ID = 20
)

// ExtHandshake is the extended message ID of the BEP 10 extension handshake.
const ExtHandshake uint8 = 0

var idNames = [...]string{
	Choke:         "choke",
	Unchoke:       "unchoke",
	Interested:    "interested",
	NotInterested: "not interested",
	Have:          "have",
	Bitfield:      "bitfield",
	Request:       "request",
	Piece:         "piece",
	Cancel:        "cancel",
	Port:          "port",
	Suggest:       "suggest",
	HaveAll:       "have all",
	HaveNone:      "have none",
	Reject:        "reject",
	AllowedFast:   "allowed fast",
	Extended:      "extended",
}

// String returns the message name, such as "piece", or "id 42" for an
// unknown ID.
func (id ID) String() string {
	if int(id) < len(idNames) && idNames[id] != "" {
		return idNames[id]
	}
	return "id " + strconv.Itoa(int(id))
}

// Known reports whether id is one of the IDs defined by this package.
func (id ID) Known() bool { return int(id) < len(idNames) && idNames[id] != "" }

// Message is one peer wire message. Which fields are used depends on ID.
type Message struct {
	KeepAlive bool // zero-length message; other fields ignored
	ID        ID
	Index     uint32 // Have, Request, Piece, Cancel, Suggest, Reject, AllowedFast
	Begin     uint32 // Request, Piece, Cancel, Reject
	Length    uint32 // Request, Cancel, Reject
	Port      uint16 // Port
	ExtID     uint8  // Extended: extended message id
	Payload   []byte // Bitfield: the bits; Piece: block data; Extended: payload after ExtID; unknown IDs: raw payload
}

// fixedLen returns the exact length (ID byte included) of messages of id
// that carry no payload, or 0 if id has a payload or is unknown.
func fixedLen(id ID) int {
	switch id {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		return 1
	case Have, Suggest, AllowedFast:
		return 5
	case Request, Cancel, Reject:
		return 13
	case Port:
		return 3
	}
	return 0
}

// headLen returns the length (ID byte included) of the fixed fields in front
// of the payload for IDs that carry one.
func headLen(id ID) int {
	switch id {
	case Piece:
		return 9
	case Extended:
		return 2
	}
	return 1
}

// AppendBinary appends the full length-prefixed encoding of m to b. It
// allocates only if b must grow. Fields not used by m.ID are ignored. It
// fails only if the payload is too long for the length prefix; it does not
// enforce the limits a Reader applies.
func (m *Message) AppendBinary(b []byte) ([]byte, error) {
	if m.KeepAlive {
		return append(b, 0, 0, 0, 0), nil
	}
	n := fixedLen(m.ID)
	if n == 0 {
		n = headLen(m.ID)
		if len(m.Payload) > math.MaxUint32-n {
			return b, protoErrorf("wire: %v message: payload length %d too long", m.ID, len(m.Payload))
		}
		n += len(m.Payload)
	}
	b = slices.Grow(b, 4+n)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, byte(m.ID))
	switch m.ID {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
	case Have, Suggest, AllowedFast:
		b = binary.BigEndian.AppendUint32(b, m.Index)
	case Request, Cancel, Reject:
		b = binary.BigEndian.AppendUint32(b, m.Index)
		b = binary.BigEndian.AppendUint32(b, m.Begin)
		b = binary.BigEndian.AppendUint32(b, m.Length)
	case Port:
		b = binary.BigEndian.AppendUint16(b, m.Port)
	case Piece:
		b = binary.BigEndian.AppendUint32(b, m.Index)
		b = binary.BigEndian.AppendUint32(b, m.Begin)
		b = append(b, m.Payload...)
	case Extended:
		b = append(b, m.ExtID)
		b = append(b, m.Payload...)
	default: // Bitfield and unknown IDs
		b = append(b, m.Payload...)
	}
	return b, nil
}

// AppendPiece appends a piece message carrying block to b. It allocates
// only if b must grow.
func AppendPiece(b []byte, index, begin uint32, block []byte) []byte {
	b = slices.Grow(b, 4+9+len(block))
	b = binary.BigEndian.AppendUint32(b, uint32(9+len(block)))
	b = append(b, byte(Piece))
	b = binary.BigEndian.AppendUint32(b, index)
	b = binary.BigEndian.AppendUint32(b, begin)
	return append(b, block...)
}

// AppendRequest appends a Request, Cancel or Reject message (all share one
// layout) to b. It allocates only if b must grow.
func AppendRequest(b []byte, id ID, index, begin, length uint32) []byte {
	b = slices.Grow(b, 4+13)
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, byte(id))
	b = binary.BigEndian.AppendUint32(b, index)
	b = binary.BigEndian.AppendUint32(b, begin)
	return binary.BigEndian.AppendUint32(b, length)
}
