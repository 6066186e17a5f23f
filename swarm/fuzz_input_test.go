package swarm

import (
	"bytes"
	"encoding/binary"

	"github.com/btfs/btfs/swarm/wire"
)

// The input format of FuzzPeerMessages: a sequence of peer messages and
// answer steps (see buildFuzzSteps), and its seeds.

// Kinds of step in a fuzz input. Each is one byte (mod numKinds) followed
// by its fields.
const (
	kChoke byte = iota
	kUnchoke
	kInterested
	kNotInterested
	kHave
	kBitfield
	kRequest
	kPiece
	kCancel
	kPort
	kExtended
	kHaveAll
	kHaveNone
	kReject
	kSuggest
	kAllowedFast
	kKeepAlive
	kRaw
	kAnswer
	numKinds
)

var kindIDs = [...]wire.ID{
	kChoke: wire.Choke, kUnchoke: wire.Unchoke, kInterested: wire.Interested, kNotInterested: wire.NotInterested,
	kHave: wire.Have, kBitfield: wire.Bitfield, kRequest: wire.Request, kPiece: wire.Piece, kCancel: wire.Cancel,
	kPort: wire.Port, kExtended: wire.Extended, kHaveAll: wire.HaveAll, kHaveNone: wire.HaveNone,
	kReject: wire.Reject, kSuggest: wire.Suggest, kAllowedFast: wire.AllowedFast,
}

// fuzzInput hands out the fields of a fuzz input; past its end every
// field is zero.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) u8() byte {
	if len(in.b) == 0 {
		return 0
	}
	v := in.b[0]
	in.b = in.b[1:]
	return v
}

func (in *fuzzInput) u16() uint16 { return uint16(in.u8())<<8 | uint16(in.u8()) }
func (in *fuzzInput) u32() uint32 { return uint32(in.u16())<<16 | uint32(in.u16()) }

// take returns the next n bytes, or as many as are left.
func (in *fuzzInput) take(n int) []byte {
	n = min(n, len(in.b))
	v := in.b[:n]
	in.b = in.b[n:]
	return v
}

// index is a piece index: one byte (small, in range or just past it), or
// 0xff and four bytes.
func (in *fuzzInput) index() uint32 {
	if v := in.u8(); v != 0xff {
		return uint32(v)
	}
	return in.u32()
}

// begin is an offset in a piece: below 0x80 a block boundary (16 KiB
// times the low 3 bits), then misaligned multiples of 512, or 0xff and
// four bytes.
func (in *fuzzInput) begin() uint32 {
	switch v := in.u8(); {
	case v < 0x80:
		return uint32(v&7) * 16 << 10
	case v < 0xff:
		return uint32(v-0x80) * 512
	}
	return in.u32()
}

// length is a block length: 0 is 16 KiB, 1 is 0, 0xff is four bytes
// that follow, any other v is v*256.
func (in *fuzzInput) length() uint32 {
	switch v := in.u8(); v {
	case 0:
		return 16 << 10
	case 1:
		return 0
	case 0xff:
		return in.u32()
	default:
		return uint32(v) * 256
	}
}

// fuzzStep is bytes to send, or an answer step (see engineHarness.answer).
type fuzzStep struct {
	raw    []byte
	answer bool
	fill   byte
}

// buildFuzzSteps turns a fuzz input (after its first byte, which picks the
// torrent) into at most maxFuzzMessages wire messages and answer steps. A
// kind byte (mod numKinds) is followed by its fields:
//
//	have, suggest, allowed fast       index
//	request, cancel, reject           index begin length
//	bitfield                          size (0: the right one, v: v-1 bytes), the bits (0xff past the input's end)
//	piece                             index begin size(2 bytes) fill: size bytes of fill
//	port                              port(2 bytes)
//	extended                          ext-id size(1 byte) payload
//	raw                               size(1 byte) bytes sent as they are (any framing)
//	answer                            fill (0: the right bytes)
//
// Payloads are at most 64 KiB. An answer step where the bytes before it
// end inside a message (raw steps can leave one unfinished) is left out.
func buildFuzzSteps(b []byte, bitfieldLen int) []fuzzStep {
	in := &fuzzInput{b: b}
	in.u8()
	var steps []fuzzStep
	var out []byte
	var fr framing // of out[:fed] and what is in steps
	fed := 0
	for n := 0; n < maxFuzzMessages && len(in.b) > 0; n++ {
		kind := in.u8() % numKinds
		switch kind {
		case kKeepAlive:
			out = append(out, 0, 0, 0, 0)
			continue
		case kRaw:
			out = append(out, in.take(int(in.u8()))...)
			continue
		case kAnswer:
			fill := in.u8()
			fr.feed(out[fed:])
			fed = len(out)
			if !fr.aligned() {
				continue // its ping would end a message the input left unfinished
			}
			if len(out) > 0 {
				steps = append(steps, fuzzStep{raw: out})
				out, fed = nil, 0
			}
			steps = append(steps, fuzzStep{answer: true, fill: fill})
			continue
		}
		m := wire.Message{ID: kindIDs[kind]}
		switch kind {
		case kHave, kSuggest, kAllowedFast:
			m.Index = in.index()
		case kRequest, kCancel, kReject:
			m.Index, m.Begin, m.Length = in.index(), in.begin(), in.length()
		case kBitfield:
			size := bitfieldLen
			if v := int(in.u8()); v != 0 {
				size = v - 1
			}
			m.Payload = bytes.Repeat([]byte{0xff}, size)
			copy(m.Payload, in.take(size))
		case kPiece:
			m.Index, m.Begin = in.index(), in.begin()
			size := int(in.u16())
			m.Payload = bytes.Repeat([]byte{in.u8()}, size)
		case kPort:
			m.Port = in.u16()
		case kExtended:
			m.ExtID = in.u8()
			m.Payload = in.take(int(in.u8()))
		}
		out, _ = m.AppendBinary(out) // fails only past 4 GiB
	}
	if len(out) > 0 {
		steps = append(steps, fuzzStep{raw: out})
	}
	return steps
}

// framing follows the length prefixes of a byte stream to tell whether it
// ends on a message boundary.
type framing struct {
	head []byte // the current message's length prefix, while incomplete
	left int64  // bytes of the current message still to come
}

func (f *framing) feed(b []byte) {
	for len(b) > 0 {
		if f.left > 0 {
			n := min(int64(len(b)), f.left)
			f.left -= n
			b = b[n:]
			continue
		}
		n := min(4-len(f.head), len(b))
		f.head = append(f.head, b[:n]...)
		b = b[n:]
		if len(f.head) == 4 {
			f.left = int64(binary.BigEndian.Uint32(f.head))
			f.head = f.head[:0]
		}
	}
}

func (f *framing) aligned() bool { return f.left == 0 && len(f.head) == 0 }

// engineSeeds are inputs for a torrent of n pieces: first byte 0 for the
// seeder, 1 for the leecher.
func engineSeeds(n int) [][]byte {
	extHS := []byte("d1:md11:ut_metadatai1e6:ut_pexi2ee1:pi6881e1:v4:fuzze")
	mdReq := []byte("d8:msg_typei0e5:piecei0ee")
	pexMsg := []byte("d5:added12:\x7f\x01\x02\x03\x1a\xe1\x7f\x01\x02\x04\x1a\xe27:added.f2:\x00\x00e")
	ext := func(id byte, p []byte) []byte { return append([]byte{kExtended, id, byte(len(p))}, p...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	last := byte(n - 1)
	return [][]byte{
		// Seeder: a polite download of two blocks, one cancelled.
		cat([]byte{0}, ext(0, extHS), []byte{kInterested, kRequest, 0, 0, 0, kRequest, 0, 1, 0, kCancel, 0, 1, 0, kNotInterested}),
		// Seeder: ut_metadata and ut_pex, then a request past the end.
		cat([]byte{0}, ext(0, extHS), ext(extMetadata, mdReq), ext(extPex, pexMsg), []byte{kRequest, last, 1, 0}),
		// Seeder: requests out of range, of length 0, misaligned, huge.
		{0, kRequest, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, kRequest, 0, 0, 1, kRequest, 0, 0x81, 0x40,
			kRequest, 0, 0, 0xff, 0x7f, 0xff, 0xff, 0xff},
		// Seeder: a bitfield, a have, reject and suggest from a peer it
		// serves, then a block it did not ask for.
		{0, kBitfield, 0, 0xff, 0xf0, kHave, 3, kReject, 0, 0, 0, kSuggest, 2, kAllowedFast, 1, kPort, 0x1a, 0xe1,
			kPiece, 0, 0, 0x40, 0x00, 0xaa},
		// Seeder: a broken frame (huge length prefix) after a keep-alive.
		{0, kKeepAlive, kAnswer, 1, kRaw, 5, 0x7f, 0xff, 0xff, 0xff, 7},
		// Seeder: a message of an unknown id, left unfinished: answer steps
		// after it are left out.
		{0, kRaw, 7, 0, 0, 0x38, 0x38, 56, 1, 2, kAnswer, 0, kAnswer, 1},
		// Leecher: a seeder's greeting, then the right bytes for what it
		// asks (pieces verify), then a block it did not ask for.
		{1, kHaveAll, kUnchoke, kAnswer, 0, kAnswer, 0, kPiece, 0, 1, 0x40, 0x00, 0x22},
		// Leecher: junk for what it asks (fails the hash check: banned).
		{1, kHaveAll, kUnchoke, kAnswer, 0x5a, kAnswer, 0x5a},
		// Leecher: some blocks right, then a reject of one asked, then a choke.
		{1, kBitfield, 0, 0xaa, 0xa0, kUnchoke, kAnswer, 0, kReject, 0, 0, 0, kChoke, kAnswer, 0},
		// Leecher: a bitfield of every piece, haves, rejects, suggests, choke.
		{1, kBitfield, 0, 0xff, 0xf0, kUnchoke, kReject, 0, 0, 0, kSuggest, 5, kAllowedFast, 7, kHave, 4, kChoke},
		// Leecher: bitfields of the wrong size and with spare bits set.
		{1, kBitfield, 5, 1, 2, 3, 4, kBitfield, 0, 0xff, 0xff},
		// Leecher: have none, then haves out of range, a piece past the end.
		{1, kHaveNone, kHave, 0xff, 0xff, 0xff, 0xff, 0xff, kHave, 200, kUnchoke, kPiece, 0xff, 0, 0, 0, 12, 0, 0x40, 0x00, 0},
		// Leecher: an extension handshake, a ut_pex it must ignore, an unknown message id.
		cat([]byte{1}, ext(0, extHS), ext(extPex, pexMsg), []byte{kRaw, 6, 0, 0, 0, 2, 99, 1}),
	}
}
