package utp

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// listenUDP opens a UDP socket on loopback.
func listenUDP(t testing.TB) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	return pc
}

// newMux starts a Mux on pc (a fresh loopback socket if nil), closed at
// the end of the test.
func newMux(t testing.TB, pc net.PacketConn, cfg Config) *Mux {
	t.Helper()
	if pc == nil {
		pc = listenUDP(t)
	}
	m := NewMux(pc, cfg)
	t.Cleanup(func() { m.Close() })
	return m
}

func addrOf(m *Mux) netip.AddrPort {
	return m.pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// connect dials b from a and returns both ends.
func connect(t testing.TB, a, b *Mux) (client, server net.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := b.Socket().Accept()
		accepted <- result{c, err}
	}()
	client, err := a.Socket().Dial(ctx, addrOf(b))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	select {
	case r := <-accepted:
		if r.err != nil {
			t.Fatalf("accept: %v", r.err)
		}
		server = r.c
	case <-ctx.Done():
		t.Fatal("accept: timed out")
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// randomBytes returns n bytes from a seeded generator.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// transfer writes data to w and closes it, while reading everything from r
// until EOF; it fails the test if the bytes differ or it takes longer than
// limit.
func transfer(t testing.TB, w, r net.Conn, data []byte, limit time.Duration) {
	t.Helper()
	werr := make(chan error, 1)
	go func() {
		_, err := w.Write(data)
		if err == nil {
			if cw, ok := w.(interface{ CloseWrite() error }); ok {
				err = cw.CloseWrite()
			} else {
				err = w.Close()
			}
		}
		werr <- err
	}()
	r.SetReadDeadline(time.Now().Add(limit))
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read after %d of %d bytes: %v", len(got), len(data), err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes, want %d, first difference at %d", len(got), len(data), firstDiff(got, data))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
