package swarm

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/wire"
)

// droppedWithin reports whether the other side closed rp's connection
// within d, reading (and discarding) whatever it sends meanwhile.
func droppedWithin(rp *rawPeer, d time.Duration) bool {
	_ = rp.conn.SetReadDeadline(time.Now().Add(d))
	for {
		if _, err := rp.r.Read(); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// seederAt starts a seeding client for a small fixture and returns the
// fixture, its torrent and its address.
func seederAt(t *testing.T, cfg Config) (*fixture, *Torrent, netip.AddrPort) {
	t.Helper()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Logger = testLogger(t)
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fx := newFixture(t, 32*1024, nil, 512*1024)
	tor, err := c.AddTorrent(fx.mi, fileStorage(t, fx), TorrentOptions{Seed: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	return fx, tor, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.Port())
}

// A block nobody asked for ends the connection: every piece message must
// answer a request of ours.
func TestUnsolicitedBlocksEndConnection(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 512*1024)
	tor := leech(t, fx, TorrentOptions{NoTrackers: true})
	rp := dialRaw(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tor.cl.Port()), fx.mi.InfoHash, true)
	block := make([]byte, 16*1024)
	go func() {
		for i := range 10000 {
			if _, err := rp.conn.Write(wire.AppendPiece(nil, uint32(i%16), 0, block)); err != nil {
				return
			}
		}
	}()
	if !droppedWithin(rp, 5*time.Second) {
		t.Fatal("a peer sending unsolicited blocks was not dropped")
	}
	if s := tor.Stats(); s.WastedLate > 16*1024 {
		t.Fatalf("%d unsolicited bytes taken before the drop, want at most one block", s.WastedLate)
	}
}

// A peer that requests while choked and never reads is cut off after a
// bounded number of refusals. Without the Fast extension nothing is
// answered (no reject piles up in the outbox), so only that rule ends it.
func TestRequestFloodWhileChokedEnds(t *testing.T) {
	fx, tor, addr := seederAt(t, Config{})
	rp := dialRaw(t, addr, fx.mi.InfoHash, false)
	req := wire.AppendRequest(nil, wire.Request, 0, 0, 16*1024)
	var buf []byte
	for range 1024 {
		buf = append(buf, req...)
	}
	done := make(chan error, 1)
	go func() {
		// Never read: only write requests until the seeder hangs up.
		_ = rp.conn.SetWriteDeadline(time.Now().Add(15 * time.Second))
		for {
			if _, err := rp.conn.Write(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the seeder neither read the requests nor hung up")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("request flood not ended")
	}
	if n := tor.Stats().Peers; n != 0 {
		t.Fatalf("%d peers still connected", n)
	}
}

// Haves for pieces already announced, beyond one per piece, end the
// connection.
func TestRedundantHaveFloodEnds(t *testing.T) {
	fx, _, addr := seederAt(t, Config{})
	rp := dialRaw(t, addr, fx.mi.InfoHash, true)
	have := wire.Message{ID: wire.Have, Index: 0}
	b, _ := have.AppendBinary(nil)
	go func() {
		for range 100000 {
			if _, err := rp.conn.Write(b); err != nil {
				return
			}
		}
	}()
	if !droppedWithin(rp, 5*time.Second) {
		t.Fatal("a have flood did not end the connection")
	}
}

// A connection on which nothing useful passes either way is closed.
func TestUselessConnectionCloses(t *testing.T) {
	fx, _, addr := seederAt(t, Config{uselessAfter: 300 * time.Millisecond})
	rp := dialRaw(t, addr, fx.mi.InfoHash, true)
	rp.send(wire.Message{ID: wire.HaveAll}) // a seeder too: no interest either way
	if !droppedWithin(rp, 5*time.Second) {
		t.Fatal("a useless connection stayed open")
	}
}

// The known-peer table stays bounded whatever a tracker sends; when full,
// addresses that keep failing make room and the working ones stay.
func TestKnownPeersBoundedBestKept(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 256*1024)
	good := seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true})
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{good}})
	flood := func(base byte, n int) []netip.AddrPort {
		out := make([]netip.AddrPort, n)
		for i := range out {
			out[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, base, byte(i >> 8), byte(i)}), uint16(1+i%50000))
		}
		return out
	}
	state := func() (known int, goodKept bool) {
		type res struct {
			n  int
			ok bool
		}
		c := make(chan res, 1)
		tor.do(func() { c <- res{len(tor.known), tor.known[good] != nil} })
		r := <-c
		return r.n, r.ok
	}
	tor.do(func() { tor.handleAddPeers(flood(3, 60000)) })
	if n, ok := state(); n > maxKnownPeers || !ok {
		t.Fatalf("%d known (bound %d), working seeder kept: %v", n, maxKnownPeers, ok)
	}
	// Every flooded address has failed twice: a new batch replaces them.
	tor.do(func() {
		for a, k := range tor.known {
			if a != good && !k.dialing && !k.connected {
				k.fails = pruneFails
			}
		}
		tor.handleAddPeers(flood(4, 500))
	})
	fresh := make(chan int, 1)
	tor.do(func() {
		n := 0
		for a := range tor.known {
			if a.Addr().As4()[1] == 4 {
				n++
			}
		}
		fresh <- n
	})
	if n := <-fresh; n != 500 {
		t.Fatalf("%d of 500 new addresses taken after the failing ones were pruned", n)
	}
	if n, ok := state(); n > maxKnownPeers || !ok {
		t.Fatalf("%d known (bound %d), working seeder kept: %v", n, maxKnownPeers, ok)
	}
}
