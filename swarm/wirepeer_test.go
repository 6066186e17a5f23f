package swarm

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/wire"
)

// rawPeer is a hand-driven peer for protocol tests.
type rawPeer struct {
	t    testing.TB
	conn net.Conn
	r    *wire.Reader
	hs   wire.Handshake
}

func dialRaw(t testing.TB, addr netip.AddrPort, ih [20]byte, fast bool) *rawPeer {
	t.Helper()
	hs := wire.Handshake{InfoHash: ih}
	copy(hs.PeerID[:], "-RAW000-")
	_, _ = crand.Read(hs.PeerID[8:]) // distinct ids: the seeder refuses duplicates
	if fast {
		hs.SetFast()
	}
	return dialRawWith(t, addr, hs, nil)
}

// dialRawWith connects, sends hs and then more (raw bytes, may be nil),
// and reads the other side's handshake.
func dialRawWith(t testing.TB, addr netip.AddrPort, hs wire.Handshake, more []byte) *rawPeer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	b, _ := hs.AppendBinary(nil)
	if _, err := conn.Write(append(b, more...)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	theirs, err := wire.ReadHandshake(conn)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return &rawPeer{t: t, conn: conn, r: wire.NewReader(bufio.NewReader(conn), wire.Limits{}), hs: theirs}
}

func (rp *rawPeer) send(m wire.Message) {
	rp.t.Helper()
	b, err := m.AppendBinary(nil)
	if err != nil {
		rp.t.Fatal(err)
	}
	if _, err := rp.conn.Write(b); err != nil {
		rp.t.Fatal(err)
	}
}

// next reads messages until one with id arrives (skipping others).
func (rp *rawPeer) next(id wire.ID) wire.Message {
	rp.t.Helper()
	for {
		m, err := rp.r.Read()
		if err != nil {
			rp.t.Fatalf("waiting for %v: %v", id, err)
		}
		if !m.KeepAlive && m.ID == id {
			m.Payload = append([]byte(nil), m.Payload...)
			return m
		}
	}
}

func TestFastExtension(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 500_000)
	addr := seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true})

	t.Run("plain peer gets a bitfield", func(t *testing.T) {
		rp := dialRaw(t, addr, fx.mi.InfoHash, false)
		if rp.hs.Fast() {
			// We always offer Fast; the peer did not, so it is not used.
			m := rp.next(wire.Bitfield)
			if len(m.Payload) != (fx.mi.Info.NumPieces()+7)/8 {
				t.Fatalf("bitfield of %d bytes", len(m.Payload))
			}
		} else {
			t.Fatal("we did not offer the Fast extension")
		}
	})

	t.Run("fast peer", func(t *testing.T) {
		rp := dialRaw(t, addr, fx.mi.InfoHash, true)
		rp.next(wire.HaveAll)
		// Choked, asking outside the allowed-fast set: rejected.
		allowed := map[int]bool{}
		for _, i := range allowedFastSet(netip.MustParseAddr("127.0.0.1"), fx.mi.InfoHash, fx.mi.Info.NumPieces(), allowedFastCount) {
			allowed[i] = true
		}
		outside := -1
		for i := range fx.mi.Info.NumPieces() {
			if !allowed[i] {
				outside = i
				break
			}
		}
		if outside >= 0 {
			rp.send(wire.Message{ID: wire.Request, Index: uint32(outside), Begin: 0, Length: 16384})
			if m := rp.next(wire.Reject); m.Index != uint32(outside) {
				t.Fatalf("reject for piece %d, want %d", m.Index, outside)
			}
		}
		rp.send(wire.Message{ID: wire.Interested})
		rp.next(wire.Unchoke)
		rp.send(wire.Message{ID: wire.Request, Index: 2, Begin: 16384, Length: 16384})
		m := rp.next(wire.Piece)
		off := 2*32*1024 + 16384
		if m.Index != 2 || m.Begin != 16384 || !bytes.Equal(m.Payload, fx.data[off:off+16384]) {
			t.Fatalf("piece %d/%d: wrong data", m.Index, m.Begin)
		}
		// An out-of-range request is rejected, not served or fatal.
		rp.send(wire.Message{ID: wire.Request, Index: 1 << 20, Begin: 0, Length: 16384})
		rp.next(wire.Reject)
	})

	t.Run("fast message from a plain peer drops it", func(t *testing.T) {
		rp := dialRaw(t, addr, fx.mi.InfoHash, false)
		rp.send(wire.Message{ID: wire.HaveAll})
		_ = rp.conn.SetDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, err := rp.r.Read(); err != nil {
				return // connection closed by the seeder: good
			}
		}
	})
}

// acceptRaw listens on 127.0.0.1 and returns the address and a function
// that accepts one connection and completes the handshake as a seeder. It
// speaks plaintext only, as some clients do: a connection that opens with
// an encryption handshake is closed, and the next one (the engine's
// plaintext retry) taken.
func acceptRaw(t testing.TB, ih [20]byte) (netip.AddrPort, func() *rawPeer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	addr := netip.MustParseAddrPort(ln.Addr().String())
	return addr, func() *rawPeer {
		var conn net.Conn
		var theirs wire.Handshake
		for tries := 0; ; tries++ {
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if theirs, err = wire.ReadHandshake(c); err == nil {
				conn = c
				break
			}
			c.Close()
			if tries == 3 {
				t.Fatal(err)
			}
		}
		hs := wire.Handshake{InfoHash: ih}
		copy(hs.PeerID[:], "-RAWSEED-")
		_, _ = crand.Read(hs.PeerID[9:])
		hs.SetFast()
		b, _ := hs.AppendBinary(nil)
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		return &rawPeer{t: t, conn: conn, r: wire.NewReader(bufio.NewReader(conn), wire.Limits{}), hs: theirs}
	}
}

func TestSeekAwayCancelsRequests(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 8<<20)
	addr, accept := acceptRaw(t, fx.mi.InfoHash)
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{addr}})
	rp := accept()
	rp.send(wire.Message{ID: wire.HaveAll})
	rp.send(wire.Message{ID: wire.Unchoke})
	r := tor.NewReader(fx.mi.Info.Files[0])
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = r.ReadAt(ctx, make([]byte, 1000), 3<<20) }()
	// The silent seeder gets requests for the piece under the read...
	req := rp.next(wire.Request)
	if req.Index != uint32((3<<20)/(64*1024)) {
		t.Fatalf("first request for piece %d, want the piece under the read", req.Index)
	}
	// ...and once nobody wants them (read abandoned, file closed), cancels.
	cancel()
	r.Close()
	c := rp.next(wire.Cancel)
	if c.Length == 0 {
		t.Fatal("empty cancel")
	}
}

func TestUploadSlotsAreBounded(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 1<<20)
	addr := seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true})
	const n = uploadSlots + 3
	unchoked := make(chan bool, n)
	for range n {
		rp := dialRaw(t, addr, fx.mi.InfoHash, true)
		rp.send(wire.Message{ID: wire.Interested})
		go func() {
			_ = rp.conn.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
			for {
				m, err := rp.r.Read()
				if err != nil {
					unchoked <- false
					return
				}
				if m.ID == wire.Unchoke && !m.KeepAlive {
					unchoked <- true
					return
				}
			}
		}()
	}
	got := 0
	for range n {
		if <-unchoked {
			got++
		}
	}
	// The regular slots plus one optimistic unchoke, never everyone.
	if got != uploadSlots+1 {
		t.Fatalf("%d of %d interested peers unchoked, want %d", got, n, uploadSlots+1)
	}
}

// TestHostilePeersAreDroppedAndDownloadContinues feeds the engine peers
// that break the protocol in different ways; each is dropped, nothing
// crashes, and a good seeder still delivers the data.
func TestHostilePeersAreDroppedAndDownloadContinues(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 2<<20)
	n := fx.mi.Info.NumPieces()
	hostile := []struct {
		name string
		raw  []byte // sent after the handshake
	}{
		{"bitfield of the wrong size", func() []byte {
			b, _ := (&wire.Message{ID: wire.Bitfield, Payload: make([]byte, (n+7)/8+3)}).AppendBinary(nil)
			return b
		}()},
		{"have out of range", func() []byte {
			b, _ := (&wire.Message{ID: wire.Have, Index: uint32(n + 10)}).AppendBinary(nil)
			return b
		}()},
		{"huge length prefix", []byte{0x7f, 0xff, 0xff, 0xff, 7}},
		{"request of 1 MiB", wire.AppendRequest(nil, wire.Request, 0, 0, 1<<20)},
		{"piece with a bad offset", wire.AppendPiece(nil, 0, 3, make([]byte, 100))},
	}
	var addrs []netip.AddrPort
	accepts := make([]func() *rawPeer, len(hostile))
	for i := range hostile {
		a, acc := acceptRaw(t, fx.mi.InfoHash)
		addrs = append(addrs, a)
		accepts[i] = acc
	}
	good := seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true})
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: append(addrs, good)})
	for i, h := range hostile {
		rp := accepts[i]()
		if _, err := rp.conn.Write(h.raw); err != nil {
			t.Fatalf("%s: %v", h.name, err)
		}
		_ = rp.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, err := rp.r.Read()
			if err == nil {
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("%s: peer not dropped within 5 s", h.name)
			}
			break
		}
		if tor.ctx.Err() != nil {
			t.Fatalf("%s: torrent stopped", h.name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := readAll(ctx, t, tor, fx, 256*1024); !bytes.Equal(got, fx.data) {
		t.Fatal("data differs")
	}
	still := make(chan int, 1)
	tor.do(func() { still <- len(tor.peers) })
	if p := <-still; p > 1 {
		t.Fatalf("%d peers still connected; the hostile ones should be gone", p)
	}
}
