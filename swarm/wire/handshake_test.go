package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testHandshake() Handshake {
	var h Handshake
	copy(h.InfoHash[:], "0123456789abcdefghij")
	copy(h.PeerID[:], "-BT0001-xxxxxxxxxxxx")
	return h
}

func TestHandshakeRoundTrip(t *testing.T) {
	fast, ext, both := testHandshake(), testHandshake(), testHandshake()
	fast.SetFast()
	ext.SetExtended()
	both.SetFast()
	both.SetExtended()
	tests := []struct {
		name          string
		h             Handshake
		wantFast, ext bool
	}{
		{"plain", testHandshake(), false, false},
		{"fast", fast, true, false},
		{"extended", ext, false, true},
		{"both", both, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.h.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != HandshakeLen || b[0] != 19 || string(b[1:20]) != Protocol {
				t.Fatalf("encoding %q", b)
			}
			got, err := ReadHandshake(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.h {
				t.Errorf("got %+v, want %+v", got, tc.h)
			}
			if got.Fast() != tc.wantFast || got.Extended() != tc.ext {
				t.Errorf("Fast, Extended = %v, %v; want %v, %v", got.Fast(), got.Extended(), tc.wantFast, tc.ext)
			}
		})
	}
	if b := both.Reserved; b[7] != 0x04 || b[5] != 0x10 {
		t.Errorf("reserved bytes %x", b)
	}
}

func TestReadHandshakeErrors(t *testing.T) {
	good, _ := testHandshake().AppendBinary(nil)
	wrongName := bytes.Clone(good)
	copy(wrongName[1:], "BitTorrent Protocol")
	tests := []struct {
		name     string
		in       []byte
		want     string
		protocol bool // matches ErrProtocol
	}{
		{"empty", nil, "EOF", false},
		{"truncated", good[:40], "unexpected EOF", false},
		{"length 0", append([]byte{0}, good[1:]...), "protocol name length 0, want 19", true},
		{"length 20", append([]byte{20}, good[1:]...), "protocol name length 20, want 19", true},
		{"http", []byte("GET / HTTP/1.1\r\n"), "protocol name length 71", true},
		{"wrong name", wrongName, `protocol "BitTorrent Protocol"`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadHandshake(bytes.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "wire: handshake: ") {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if errors.Is(err, ErrProtocol) != tc.protocol {
				t.Errorf("errors.Is(%v, ErrProtocol) = %v", err, !tc.protocol)
			}
		})
	}
}

func TestReadHandshakeStopsOnBadLength(t *testing.T) {
	cr := &countingReader{r: strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}
	if _, err := ReadHandshake(cr); err == nil {
		t.Fatal("no error")
	}
	if cr.n != 1 {
		t.Errorf("read %d bytes, want 1", cr.n)
	}
}

// exchange runs a handshake both ways over a and b, then sends one piece
// message from a to b.
func exchange(t *testing.T, a, b net.Conn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range []net.Conn{a, b} {
		if err := c.SetDeadline(deadline); err != nil {
			t.Fatal(err)
		}
	}
	ha, hb := testHandshake(), testHandshake()
	ha.SetFast()
	hb.PeerID[0] = 'B'
	hb.SetExtended()

	type result struct {
		h   Handshake
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := ReadHandshake(b)
		if err == nil {
			out, _ := hb.AppendBinary(nil)
			_, err = b.Write(out)
		}
		done <- result{got, err}
	}()
	out, _ := ha.AppendBinary(nil)
	if _, err := a.Write(out); err != nil {
		t.Fatal(err)
	}
	gotB, err := ReadHandshake(a)
	if err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.h != ha || gotB != hb {
		t.Fatalf("handshakes crossed wrongly: %+v / %+v", res.h, gotB)
	}
	if !res.h.Fast() || !gotB.Extended() {
		t.Error("reserved bits lost")
	}

	go func() {
		_, err := a.Write(AppendPiece(nil, 3, 16384, []byte("block")))
		done <- result{err: err}
	}()
	m, err := NewReader(b, Limits{}).Read()
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != Piece || m.Index != 3 || m.Begin != 16384 || string(m.Payload) != "block" {
		t.Errorf("got %+v", m)
	}
	if res := <-done; res.err != nil {
		t.Fatal(res.err)
	}
}

func TestHandshakeNetPipe(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	exchange(t, a, b)
}

func TestHandshakeTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	defer b.Close()
	exchange(t, a, b)
	// A clean close between messages reads as io.EOF.
	a.Close()
	if _, err := NewReader(b, Limits{}).Read(); err != io.EOF {
		t.Errorf("after close: %v, want io.EOF", err)
	}
}
