// Package metadata implements BEP 9 (ut_metadata): the messages that carry
// an info dictionary between peers in 16 KiB pieces, Serve to answer
// requests from our own info dictionary, and a Fetcher that assembles and
// verifies an info dictionary from several peers at once.
//
// The package is pure: no goroutines, no I/O; time is passed in. Everything
// a peer sends is bounded before it is stored: sizes above
// wire.MaxMetadataSize are refused before any allocation.
package metadata

import (
	"errors"
	"fmt"

	"github.com/btfs/btfs/swarm/bencode"
	"github.com/btfs/btfs/swarm/wire"
	zbencode "github.com/zeebo/bencode"
)

// PieceSize is the size of every metadata piece but the last.
const PieceSize = 16 * 1024

// MaxPieces is the number of pieces of the largest accepted info dictionary;
// piece indices run from 0 to MaxPieces-1.
const MaxPieces = wire.MaxMetadataSize / PieceSize

// MsgType is the msg_type of a ut_metadata message.
type MsgType int

// Message types of BEP 9.
const (
	Request MsgType = 0
	Data    MsgType = 1
	Reject  MsgType = 2
)

func (t MsgType) String() string {
	switch t {
	case Request:
		return "request"
	case Data:
		return "data"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("msg_type %d", int(t))
}

// ErrUnknownType is matched (with errors.Is) by the error ParseMsg returns
// for a msg_type other than 0, 1 or 2. BEP 9 asks receivers to ignore such
// messages rather than drop the peer.
var ErrUnknownType = errors.New("ut_metadata: unknown msg_type")

// Msg is one ut_metadata message.
type Msg struct {
	Type      MsgType
	Piece     int
	TotalSize int    // Data only: the size of the whole info dictionary
	Data      []byte // Data only: the piece's bytes
}

// msgDict is the dictionary in front of a message's data.
type msgDict struct {
	MsgType   int `bencode:"msg_type"`
	Piece     int `bencode:"piece"`
	TotalSize int `bencode:"total_size,omitempty"`
}

// AppendBinary appends the message payload (what follows the extended
// message ID) to b: the dictionary, then for a Data message the raw data.
// It fails for an unknown type, a negative piece, or a Data message whose
// TotalSize is not positive or whose Data is longer than PieceSize.
func (m Msg) AppendBinary(b []byte) ([]byte, error) {
	d := msgDict{MsgType: int(m.Type), Piece: m.Piece}
	switch {
	case m.Type < Request || m.Type > Reject:
		return b, fmt.Errorf("ut_metadata: piece %d: cannot encode %v", m.Piece, m.Type)
	case m.Piece < 0:
		return b, fmt.Errorf("ut_metadata: %v: negative piece %d", m.Type, m.Piece)
	case m.Type == Data && (m.TotalSize <= 0 || len(m.Data) > PieceSize):
		return b, fmt.Errorf("ut_metadata: piece %d: cannot encode %d bytes of total_size %d", m.Piece, len(m.Data), m.TotalSize)
	case m.Type == Data:
		d.TotalSize = m.TotalSize
	}
	enc, err := zbencode.EncodeBytes(d)
	if err != nil {
		return b, fmt.Errorf("ut_metadata: piece %d: %w", m.Piece, err)
	}
	b = append(b, enc...)
	if m.Type == Data {
		b = append(b, m.Data...)
	}
	return b, nil
}

// ParseMsg decodes a ut_metadata payload. It is strict: the payload must
// start with a bencoded dictionary holding integer msg_type and piece, with
// piece in 0..MaxPieces-1; other keys are ignored. A msg_type other than
// 0..2 is an error matching ErrUnknownType. Request and Reject messages must
// have nothing after the dictionary. A Data message needs total_size in
// 1..wire.MaxMetadataSize, a piece within it, and exactly that piece's bytes
// (PieceSize, less for the last piece) after the dictionary; Data aliases
// payload.
func ParseMsg(payload []byte) (Msg, error) {
	d, rest, err := bencode.DecodePrefix(payload)
	if err != nil {
		return Msg{}, fmt.Errorf("ut_metadata: %w", err)
	}
	if d.Kind() != bencode.Dict {
		return Msg{}, fmt.Errorf("ut_metadata: message is a %v, want a dictionary", d.Kind())
	}
	t, piece := d.Get("msg_type"), d.Get("piece")
	if t.Kind() != bencode.Int || piece.Kind() != bencode.Int {
		return Msg{}, errors.New("ut_metadata: message without integer msg_type and piece")
	}
	if n := t.Int(); n < int64(Request) || n > int64(Reject) {
		return Msg{}, fmt.Errorf("%w %d", ErrUnknownType, n)
	}
	m := Msg{Type: MsgType(t.Int())}
	if n := piece.Int(); n < 0 || n >= MaxPieces {
		return Msg{}, fmt.Errorf("ut_metadata: %v: piece %d out of range 0..%d", m.Type, n, MaxPieces-1)
	}
	m.Piece = int(piece.Int())
	if m.Type != Data {
		if len(rest) != 0 {
			return Msg{}, fmt.Errorf("ut_metadata: %v: piece %d: %d bytes after the dictionary", m.Type, m.Piece, len(rest))
		}
		return m, nil
	}
	ts := d.Get("total_size")
	if ts.Kind() != bencode.Int {
		return Msg{}, fmt.Errorf("ut_metadata: data: piece %d: no integer total_size", m.Piece)
	}
	if n := ts.Int(); n <= 0 || n > wire.MaxMetadataSize {
		return Msg{}, fmt.Errorf("ut_metadata: data: piece %d: total_size %d out of range 1..%d", m.Piece, n, wire.MaxMetadataSize)
	}
	m.TotalSize = int(ts.Int())
	want := pieceLen(m.TotalSize, m.Piece)
	if want <= 0 {
		return Msg{}, fmt.Errorf("ut_metadata: data: piece %d beyond total_size %d", m.Piece, m.TotalSize)
	}
	if len(rest) != want {
		return Msg{}, fmt.Errorf("ut_metadata: data: piece %d: %d bytes, want %d", m.Piece, len(rest), want)
	}
	m.Data = rest
	return m, nil
}

// pieceLen returns the length of piece i of an info dictionary of size
// bytes, or a value <= 0 if there is no such piece.
func pieceLen(size, i int) int {
	return min(PieceSize, size-i*PieceSize)
}

// numPieces returns the number of pieces of an info dictionary of size
// bytes.
func numPieces(size int) int {
	return (size + PieceSize - 1) / PieceSize
}

// Serve answers a peer's request from our info dictionary info: a Data
// message whose Data aliases info, or a Reject when the piece is out of
// range, info is empty or too large to serve, or req is not a Request.
func Serve(info []byte, req Msg) Msg {
	if req.Type != Request || len(info) == 0 || len(info) > wire.MaxMetadataSize ||
		req.Piece < 0 || req.Piece >= numPieces(len(info)) {
		return Msg{Type: Reject, Piece: req.Piece}
	}
	off := req.Piece * PieceSize
	n := pieceLen(len(info), req.Piece)
	return Msg{Type: Data, Piece: req.Piece, TotalSize: len(info), Data: info[off : off+n : off+n]}
}
