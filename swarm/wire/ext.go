package wire

import (
	"fmt"
	"math"
	"net/netip"
	"unicode"
	"unicode/utf8"

	"github.com/btfs/btfs/swarm/bencode"
	zbencode "github.com/zeebo/bencode"
)

// MaxMetadataSize is the largest info dictionary (BEP 9 metadata_size) btfs
// will fetch from peers. ParseExtHandshake keeps larger values so that a
// caller can see what a peer claimed; metadata.Fetcher refuses them before
// allocating anything.
const MaxMetadataSize = 32 << 20

// Bounds ParseExtHandshake applies to what a peer sends.
const (
	MaxExtNames   = 64   // "m" entries considered; later entries are ignored
	MaxExtNameLen = 64   // longer extension names are ignored
	MaxClientLen  = 100  // "v" is cut to this many bytes
	MaxReqq       = 2000 // "reqq" is lowered to this
)

// ExtHandshakeMsg is the payload of extended message 0 (ExtHandshake), the
// BEP 10 extension handshake. Zero fields are absent on the wire.
type ExtHandshakeMsg struct {
	M            map[string]uint8 // extension name -> message id; 0 means disabled
	V            string           // client name and version
	P            uint16           // our TCP listen port; 0 = absent
	Reqq         int              // requests the sender queues without dropping; 0 = absent
	MetadataSize int              // BEP 9 info dictionary size; 0 = absent
	YourIP       netip.Addr       // the address we see the peer at; invalid = absent
}

// extDict is the wire form of ExtHandshakeMsg for encoding.
type extDict struct {
	M            map[string]uint8 `bencode:"m"`
	V            string           `bencode:"v,omitempty"`
	P            int              `bencode:"p,omitempty"`
	Reqq         int              `bencode:"reqq,omitempty"`
	MetadataSize int              `bencode:"metadata_size,omitempty"`
	YourIP       []byte           `bencode:"yourip,omitempty"`
}

// AppendBinary appends the bencoded dictionary (the payload after the
// extended message ID) to b. "m" is always present, empty if M is. It fails
// on a negative Reqq or MetadataSize; it does not apply the bounds
// ParseExtHandshake applies.
func (h ExtHandshakeMsg) AppendBinary(b []byte) ([]byte, error) {
	if h.Reqq < 0 || h.MetadataSize < 0 {
		return b, fmt.Errorf("wire: extension handshake: negative reqq %d or metadata_size %d", h.Reqq, h.MetadataSize)
	}
	d := extDict{M: h.M, V: h.V, P: int(h.P), Reqq: h.Reqq, MetadataSize: h.MetadataSize}
	if h.YourIP.IsValid() {
		d.YourIP = h.YourIP.AsSlice()
	}
	enc, err := zbencode.EncodeBytes(d)
	if err != nil {
		return b, fmt.Errorf("wire: extension handshake: %w", err)
	}
	return append(b, enc...), nil
}

// causeError is a protocol error that keeps its cause.
type causeError struct {
	protocolError
	cause error
}

func (e *causeError) Unwrap() error { return e.cause }

// ParseExtHandshake decodes an extension handshake payload. It fails, with
// an error matching ErrProtocol, only when the payload is not one strict
// bencoded dictionary or metadata_size is negative. Every other field is
// bounded rather than refused: unknown keys and fields of the wrong type are
// ignored; only the first MaxExtNames "m" entries are considered, and of
// those, empty names, names longer than MaxExtNameLen and ids that are not
// integers in 0..255 are skipped; "v" is cut to MaxClientLen bytes at a rune
// boundary, with invalid UTF-8 and control characters replaced by U+FFFD;
// "p" outside 1..65535 is dropped; "reqq" is clamped to 0..MaxReqq;
// "yourip" of a length other than 4 or 16 is dropped and an IPv4-mapped one
// is unmapped. metadata_size is kept even above MaxMetadataSize. Nothing in
// the result aliases payload.
func ParseExtHandshake(payload []byte) (ExtHandshakeMsg, error) {
	d, err := bencode.Decode(payload)
	if err != nil {
		return ExtHandshakeMsg{}, &causeError{protocolError{"wire: extension handshake: " + err.Error()}, err}
	}
	if d.Kind() != bencode.Dict {
		return ExtHandshakeMsg{}, protoErrorf("wire: extension handshake: %v, want a dictionary", d.Kind())
	}
	var h ExtHandshakeMsg
	for k, v := range d.Pairs() {
		switch string(k) {
		case "m":
			h.M = parseExtNames(v)
		case "v":
			if v.Kind() == bencode.String {
				h.V = clientName(v.Bytes())
			}
		case "p":
			if v.Kind() == bencode.Int && v.Int() >= 1 && v.Int() <= math.MaxUint16 {
				h.P = uint16(v.Int())
			}
		case "reqq":
			if v.Kind() == bencode.Int {
				h.Reqq = int(min(max(v.Int(), 0), MaxReqq))
			}
		case "metadata_size":
			if v.Kind() != bencode.Int {
				break
			}
			n := v.Int()
			if n < 0 {
				return ExtHandshakeMsg{}, protoErrorf("wire: extension handshake: metadata_size %d is negative", n)
			}
			h.MetadataSize = int(min(n, math.MaxInt))
		case "yourip":
			if v.Kind() != bencode.String {
				break
			}
			if ip, ok := netip.AddrFromSlice(v.Bytes()); ok {
				h.YourIP = ip.Unmap()
			}
		}
	}
	return h, nil
}

// parseExtNames reads the "m" dictionary within the bounds documented on
// ParseExtHandshake. It returns nil for a value that is not a dictionary.
func parseExtNames(v bencode.Value) map[string]uint8 {
	if v.Kind() != bencode.Dict {
		return nil
	}
	m := make(map[string]uint8)
	n := 0
	for name, id := range v.Pairs() {
		if n++; n > MaxExtNames {
			break
		}
		if len(name) == 0 || len(name) > MaxExtNameLen || id.Kind() != bencode.Int {
			continue
		}
		if i := id.Int(); i >= 0 && i <= math.MaxUint8 {
			m[string(name)] = uint8(i)
		}
	}
	return m
}

// clientName returns s cut to MaxClientLen bytes without splitting a rune,
// with invalid UTF-8 and control characters replaced by U+FFFD.
func clientName(s []byte) string {
	out := make([]byte, 0, min(len(s), MaxClientLen))
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		s = s[n:]
		if unicode.IsControl(r) {
			r = utf8.RuneError
		}
		if len(out)+utf8.RuneLen(r) > MaxClientLen {
			break
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}
