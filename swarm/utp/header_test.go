package utp

import (
	"bytes"
	"errors"
	"testing"
)

func TestParsePacket(t *testing.T) {
	base := func(typ, ext byte) []byte {
		b := make([]byte, headerLen)
		b[0], b[1] = typ<<4|1, ext
		return b
	}
	withExt := func(typ byte, first byte, exts ...[]byte) []byte {
		b := base(typ, first)
		for _, e := range exts {
			b = append(b, e...)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		b       []byte
		err     error
		sack    []byte
		payload string
	}{
		{"state", base(stState, 0), nil, nil, ""},
		{"data with payload", append(base(stData, 0), "abc"...), nil, nil, "abc"},
		{"short", base(stState, 0)[:19], errShort, nil, ""},
		{"version 0", append([]byte{0x20}, make([]byte, 19)...), errVersion, nil, ""},
		{"type 5", base(5, 0), errType, nil, ""},
		{"bencode", []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"), errVersion, nil, ""},
		{"sack", withExt(stState, extSACK, []byte{0, 4, 1, 2, 3, 4}), nil, []byte{1, 2, 3, 4}, ""},
		{"sack then payload", append(withExt(stData, extSACK, []byte{0, 4, 1, 2, 3, 4}), 'x'), nil, []byte{1, 2, 3, 4}, "x"},
		{"unknown then sack", withExt(stState, 9, []byte{extSACK, 2, 7, 7}, []byte{0, 4, 0xff, 0, 0, 0}), nil, []byte{0xff, 0, 0, 0}, ""},
		{"extension header cut", withExt(stState, extSACK, []byte{0}), errExtension, nil, ""},
		{"extension body cut", withExt(stState, extSACK, []byte{0, 8, 1, 2, 3}), errExtension, nil, ""},
		{"chain runs off the end", withExt(stState, 2, []byte{3, 0}), errExtension, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, payload, err := parsePacket(tc.b)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if IsUTP(tc.b) != (tc.err == nil) {
				t.Errorf("IsUTP = %v", IsUTP(tc.b))
			}
			if err != nil {
				return
			}
			if !bytes.Equal(h.sack, tc.sack) || string(payload) != tc.payload {
				t.Errorf("sack %x payload %q, want %x %q", h.sack, payload, tc.sack, tc.payload)
			}
		})
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := header{typ: stData, connID: 0xbeef, ts: 1, tsDiff: 2, wnd: 3, seq: 0xffff, ack: 5, sack: []byte{9, 8, 7, 6}}
	b := appendHeader(nil, &h)
	if len(b) != headerLen+2+4 {
		t.Fatalf("length %d", len(b))
	}
	got, payload, err := parsePacket(b)
	if err != nil || len(payload) != 0 || got.String() != h.String() || !bytes.Equal(got.sack, h.sack) {
		t.Fatalf("got %v %x %v", &got, payload, err)
	}
	var fixed [headerLen]byte
	h.sack = nil
	putHeader(fixed[:], &h)
	if !bytes.Equal(fixed[:], appendHeader(nil, &h)) {
		t.Error("putHeader and appendHeader disagree")
	}
}

func TestSeqArithmetic(t *testing.T) {
	for _, tc := range []struct {
		a, b uint16
		diff int
	}{
		{5, 3, 2}, {3, 5, -2}, {1, 0xffff, 2}, {0xffff, 1, -2}, {0x8000, 0, -0x8000},
	} {
		if got := seqDiff(tc.a, tc.b); got != tc.diff {
			t.Errorf("seqDiff(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.diff)
		}
		if got := seqLess(tc.a, tc.b); got != (tc.diff < 0) {
			t.Errorf("seqLess(%d, %d) = %v", tc.a, tc.b, got)
		}
	}
}

func TestBuildSACK(t *testing.T) {
	c := &Conn{ackNr: 0xfffe, ooo: map[uint16]chunk{}}
	for _, seq := range []uint16{0, 1, 8, 40, 300} { // ack_nr+2 is 0
		c.ooo[seq] = chunk{}
	}
	var mask [maxSACKBytes]byte
	got := c.buildSACK(mask[:])
	want := []byte{0x03, 0x01, 0, 0, 0, 0x01, 0, 0} // bits 0, 1, 8, 40; 300 is out of range
	if !bytes.Equal(got, want) {
		t.Errorf("sack %x, want %x", got, want)
	}
	// a large map takes the probing path and gives the same answer
	for i := range 400 {
		c.ooo[uint16(1000+i)] = chunk{}
	}
	mask = [maxSACKBytes]byte{}
	if got := c.buildSACK(mask[:]); !bytes.Equal(got, want) {
		t.Errorf("sack with a large map %x, want %x", got, want)
	}
}
