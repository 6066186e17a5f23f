package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// frame builds a message with an explicit length prefix n, the id and body.
func frame(n uint32, id ID, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, n)
	b = append(b, byte(id))
	return append(b, body...)
}

// msg builds a well-framed message of id with body.
func msg(id ID, body []byte) []byte { return frame(uint32(1+len(body)), id, body) }

func req(length uint32) []byte {
	return binary.BigEndian.AppendUint32(make([]byte, 8), length)
}

func TestLengthViolations(t *testing.T) {
	small := Limits{MaxBitfield: 2, MaxExtended: 3, MaxUnknown: 4}
	tests := []struct {
		name string
		in   []byte
		lim  Limits
		want string // substring of the error
	}{
		{"choke with body", msg(Choke, []byte{0}), Limits{}, "choke message: length 2, want 1"},
		{"have all with body", msg(HaveAll, []byte{0}), Limits{}, "have all message: length 2, want 1"},
		{"have short", msg(Have, []byte{0, 0, 0}), Limits{}, "have message: length 4, want 5"},
		{"have long", msg(Have, make([]byte, 5)), Limits{}, "have message: length 6, want 5"},
		{"suggest short", msg(Suggest, nil), Limits{}, "suggest message: length 1, want 5"},
		{"allowed fast long", msg(AllowedFast, make([]byte, 8)), Limits{}, "allowed fast message: length 9, want 5"},
		{"request short", msg(Request, make([]byte, 8)), Limits{}, "request message: length 9, want 13"},
		{"cancel long", msg(Cancel, make([]byte, 13)), Limits{}, "cancel message: length 14, want 13"},
		{"reject short", msg(Reject, nil), Limits{}, "reject message: length 1, want 13"},
		{"request zero length", msg(Request, req(0)), Limits{}, "request message: block length 0 out of range"},
		{"request huge length", msg(Request, req(MaxBlockLen+1)), Limits{}, "request message: block length 131073 out of range"},
		{"cancel zero length", msg(Cancel, req(0)), Limits{}, "cancel message: block length 0"},
		{"reject huge length", msg(Reject, req(1<<31)), Limits{}, "reject message: block length"},
		{"piece no block", msg(Piece, make([]byte, 8)), Limits{}, "piece message: length 9 too short"},
		{"piece no header", msg(Piece, nil), Limits{}, "piece message: length 1 too short"},
		{"piece too long", msg(Piece, make([]byte, 8+MaxBlockLen+1)), Limits{}, "piece message: length 131082 too long"},
		{"port short", msg(Port, []byte{1}), Limits{}, "port message: length 2, want 3"},
		{"port long", msg(Port, []byte{1, 2, 3}), Limits{}, "port message: length 4, want 3"},
		{"bitfield over limit", msg(Bitfield, []byte{1, 2, 3}), small, "bitfield message: length 4 too long, max 3"},
		{"extended no ext id", msg(Extended, nil), Limits{}, "extended message: length 1 too short"},
		{"extended over limit", msg(Extended, make([]byte, 5)), small, "extended message: length 6 too long, max 5"},
		{"unknown over limit", msg(99, make([]byte, 5)), small, "id 99 message: length 6 too long, max 5"},
		{"overall too long", frame(1<<31, Piece, nil), Limits{}, "message: length 2147483648 too long"},
		{"max uint32", frame(0xffffffff, Choke, nil), Limits{}, "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(how string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error, want %q", how, tc.want)
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "wire: ") {
					t.Errorf("%s: error %q, want it to contain %q", how, err, tc.want)
				}
				if !errors.Is(err, ErrProtocol) {
					t.Errorf("%s: error %q does not match ErrProtocol", how, err)
				}
			}
			_, err := Decode(tc.in, tc.lim)
			check("Decode", err)
			r := NewReader(bytes.NewReader(tc.in), tc.lim)
			_, err = r.Read()
			check("Reader.Read", err)
			if _, err2 := r.Read(); err2 != err {
				t.Errorf("Read after error = %v, want sticky %v", err2, err)
			}
			if cap(r.buf) > r.maxLen-1 {
				t.Errorf("buffer grew to %d, max legal body %d", cap(r.buf), r.maxLen-1)
			}
		})
	}
}

func TestLimitsAtBoundary(t *testing.T) {
	small := Limits{MaxBitfield: 2, MaxExtended: 3, MaxUnknown: 4}
	tests := []struct {
		name string
		in   []byte
		lim  Limits
	}{
		{"bitfield at limit", msg(Bitfield, []byte{1, 2}), small},
		{"extended at limit", msg(Extended, make([]byte, 4)), small},
		{"unknown at limit", msg(99, make([]byte, 4)), small},
		{"piece max block", msg(Piece, make([]byte, 8+MaxBlockLen)), Limits{}},
		{"piece one byte", msg(Piece, make([]byte, 9)), Limits{}},
		{"request max block", msg(Request, req(MaxBlockLen)), Limits{}},
		{"default bitfield", msg(Bitfield, make([]byte, DefaultMaxBitfield)), Limits{}},
		{"negative limit is default", msg(99, make([]byte, DefaultMaxUnknown)), Limits{MaxUnknown: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.in, tc.lim); err != nil {
				t.Errorf("Decode: %v", err)
			}
			if _, err := NewReader(bytes.NewReader(tc.in), tc.lim).Read(); err != nil {
				t.Errorf("Reader.Read: %v", err)
			}
		})
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestRejectBeforeReadingBody(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantRead int
	}{
		{"overall length", frame(1<<30, Piece, make([]byte, 100)), 4},
		{"piece too long", frame(9+MaxBlockLen+1, Piece, make([]byte, 100)), 5},
		{"bitfield over limit", frame(100, Bitfield, make([]byte, 100)), 5},
		{"have wrong length", frame(100, Have, make([]byte, 100)), 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(tc.in)}
			r := NewReader(cr, Limits{MaxBitfield: 10})
			if _, err := r.Read(); err == nil {
				t.Fatal("no error")
			}
			if cr.n != tc.wantRead {
				t.Errorf("read %d bytes, want %d", cr.n, tc.wantRead)
			}
			if r.buf != nil {
				t.Errorf("allocated a %d-byte buffer for a rejected message", cap(r.buf))
			}
		})
	}
}

func TestTruncated(t *testing.T) {
	first := AppendPiece(nil, 1, 2, []byte("hello"))
	full := append(first, msg(Have, make([]byte, 4))...)
	for cut := 1; cut < len(full); cut++ {
		r := NewReader(bytes.NewReader(full[:cut]), Limits{})
		var err error
		for err == nil {
			_, err = r.Read()
		}
		if cut == len(first) {
			if err != io.EOF {
				t.Errorf("cut %d at a message boundary: error %v, want io.EOF", cut, err)
			}
			continue
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut %d: Reader.Read error %v, want ErrUnexpectedEOF", cut, err)
		}
		if cut < len(first) {
			if _, err := Decode(full[:cut], Limits{}); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("cut %d: Decode error %v, want ErrUnexpectedEOF", cut, err)
			}
		}
	}
}

func TestReaderStream(t *testing.T) {
	var in []byte
	for _, tc := range roundTripCases {
		in, _ = tc.msg.AppendBinary(in)
	}
	r := NewReader(bytes.NewReader(in), Limits{})
	for _, tc := range roundTripCases {
		m, err := r.Read()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		assertMsg(t, m, tc.msg)
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestDecodeTrailing(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"keep-alive", []byte{0, 0, 0, 0, 1}},
		{"have", append(msg(Have, make([]byte, 4)), 0)},
		{"piece", append(AppendPiece(nil, 0, 0, []byte{1}), 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in, Limits{})
			if err == nil || !strings.Contains(err.Error(), "trailing") {
				t.Errorf("Decode error %v, want trailing bytes", err)
			}
		})
	}
}

// loopReader serves data over and over.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

func TestReaderNoAllocs(t *testing.T) {
	block := make([]byte, 16<<10)
	var in []byte
	in = AppendPiece(in, 1, 0, block)
	in = AppendPiece(in, 1, 16<<10, block[:1000]) // a short last block
	in = AppendRequest(in, Request, 2, 0, 16<<10)
	in = append(in, 0, 0, 0, 0)
	in, _ = (&Message{ID: Extended, ExtID: 1, Payload: []byte("d1:ai1ee")}).AppendBinary(in)
	r := NewReader(&loopReader{data: in}, Limits{})
	read := func() {
		if _, err := r.Read(); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		read() // warm up the buffer
	}
	if n := testing.AllocsPerRun(1000, read); n != 0 {
		t.Errorf("Reader.Read: %v allocs per message, want 0", n)
	}
}
