package swarm

import (
	"bytes"
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/wire"
)

// stallStorage serves the first n blocks it is asked for, then blocks every
// read until release is closed: a peer that stalls mid-piece.
type stallStorage struct {
	Storage
	n       atomic.Int64
	release chan struct{}
	stalled atomic.Bool
}

func (s *stallStorage) ReadBlock(piece, begin int, p []byte) (bool, error) {
	if s.n.Add(-1) < 0 {
		s.stalled.Store(true)
		<-s.release
		return false, nil
	}
	return s.Storage.ReadBlock(piece, begin, p)
}

func TestStalledSeederDoesNotStallDownload(t *testing.T) {
	// A blocked reader gets the stalled blocks from another peer once their
	// requests are late (rescueLate); background fetching gets them back by request
	// timeout, and the staller is snubbed.
	for _, background := range []bool{false, true} {
		name := "reader"
		if background {
			name = "background"
		}
		t.Run(name, func(t *testing.T) { testStalledSeeder(t, background) })
	}
}

func testStalledSeeder(t *testing.T, background bool) {
	fx := newFixture(t, 256*1024, nil, 4<<20)
	st := &stallStorage{Storage: fileStorage(t, fx), release: make(chan struct{})}
	st.n.Store(5) // a few blocks, then silence in the middle of piece 0
	stalled := seed(t, fx, st, TorrentOptions{NoTrackers: true})
	t.Cleanup(func() { close(st.release) }) // runs before the seeder's Close
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{stalled}, Prefetch: prefetchIf(background)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan []byte, 1)
	if !background {
		go func() { done <- readAll(ctx, t, tor, fx, 1<<20) }()
	}
	for !st.stalled.Load() {
		time.Sleep(10 * time.Millisecond)
	}
	// The good seeder joins once the first one has stalled holding requests.
	// In the background case it is slow, so the request timeout (2 s here)
	// fires before endgame would re-request the stalled blocks anyway.
	var goodSt Storage = fileStorage(t, fx)
	if background {
		goodSt = &slowStorage{Storage: goodSt, delay: 12 * time.Millisecond}
	}
	good := seed(t, fx, goodSt, TorrentOptions{NoTrackers: true})
	tor.AddPeers([]netip.AddrPort{good})
	if background {
		select {
		case <-tor.Complete():
		case <-ctx.Done():
			t.Fatalf("download stuck at %d pieces", tor.Stats().PiecesVerified)
		}
		snubbed := make(chan bool, 1)
		tor.do(func() {
			for p := range tor.peers {
				if p.addr == stalled {
					snubbed <- p.snubbed
					return
				}
			}
			snubbed <- false
		})
		if !<-snubbed {
			t.Error("the stalled peer was not marked snubbed")
		}
		go func() { done <- readAll(ctx, t, tor, fx, 1<<20) }()
	}
	if got := <-done; !bytes.Equal(got, fx.data) {
		t.Fatal("data differs")
	}
	// The blocked reader's blocks came back by a second request, late
	// against the staller's rate; in the background case nothing waited
	// on them, so nothing was duplicated.
	if d := tor.Stats().DupRequests; background != (d == 0) {
		t.Errorf("duplicate requests = %d (background %v)", d, background)
	}
}

// slowStorage delays every block so a download lasts long enough for
// peers to come and go during it.
type slowStorage struct {
	Storage
	delay time.Duration
}

func (s *slowStorage) ReadBlock(piece, begin int, p []byte) (bool, error) {
	time.Sleep(s.delay)
	return s.Storage.ReadBlock(piece, begin, p)
}

func TestPeersLeaveAndJoin(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 6<<20)
	var clients []*Client
	var addrs []netip.AddrPort
	for range 3 {
		c := newTestClient(t)
		if _, err := c.AddTorrent(fx.mi, &slowStorage{Storage: fileStorage(t, fx), delay: 2 * time.Millisecond}, TorrentOptions{Seed: true, NoTrackers: true}); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		addrs = append(addrs, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.Port()))
	}
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: addrs[:2], Prefetch: PrefetchAll})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n := fx.mi.Info.NumPieces()
	waitPieces := func(k int) {
		for tor.Stats().PiecesVerified < k {
			select {
			case <-ctx.Done():
				t.Fatalf("stuck at %d/%d pieces", tor.Stats().PiecesVerified, n)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	waitPieces(n / 4)
	clients[0].Close() // a seeder leaves
	tor.AddPeers(addrs[2:])
	waitPieces(n / 2)
	clients[1].Close() // another leaves; only the newcomer remains
	select {
	case <-tor.Complete():
	case <-ctx.Done():
		t.Fatalf("download stuck at %d/%d pieces", tor.Stats().PiecesVerified, n)
	}
	if got := readAll(ctx, t, tor, fx, 1<<20); !bytes.Equal(got, fx.data) {
		t.Fatal("data differs")
	}
}

func TestFullTorrentReplacesLeastUsefulPeer(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 1<<20)
	c, err := NewClient(Config{ListenAddr: "127.0.0.1:0", MaxPeers: 2, peerGrace: 100 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tor, err := c.AddTorrent(fx.mi, fileStorage(t, fx), TorrentOptions{Seed: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.Port())
	// Two idle peers fill the torrent; a third is refused while they are
	// within their grace period, and replaces one after it.
	idle1 := dialRaw(t, addr, fx.mi.InfoHash, true)
	dialRaw(t, addr, fx.mi.InfoHash, true)
	waitPeers := func(n int) {
		for deadline := time.Now().Add(5 * time.Second); tor.Stats().Peers != n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d peers, want %d", tor.Stats().Peers, n)
			}
		}
	}
	waitPeers(2)
	early := dialRaw(t, addr, fx.mi.InfoHash, true)
	_ = early.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := early.r.Read(); err == nil {
		t.Fatal("a third peer was admitted while the first two were new")
	}
	time.Sleep(200 * time.Millisecond)
	// idle1 now downloads, so the other idle peer is the least useful.
	idle1.send(wire.Message{ID: wire.Interested})
	idle1.next(wire.Unchoke)
	for i := range 8 {
		idle1.send(wire.Message{ID: wire.Request, Index: uint32(i), Begin: 0, Length: 16384})
		idle1.next(wire.Piece)
	}
	time.Sleep(1100 * time.Millisecond) // one tick measures rates
	late := dialRaw(t, addr, fx.mi.InfoHash, true)
	late.next(wire.HaveAll) // admitted
	waitPeers(2)
	idle1.send(wire.Message{ID: wire.Request, Index: 9, Begin: 0, Length: 16384})
	idle1.next(wire.Piece) // the useful peer is still connected
}

func prefetchIf(all bool) Prefetch {
	if all {
		return PrefetchAll
	}
	return PrefetchWindow
}
