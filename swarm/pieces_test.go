package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/btfs/btfs/cache"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/wire"
)

// TestPieceTableTransitions walks pieces through every allowed move and
// checks the views (counts, verified, buffer bytes, held bytes) follow,
// and that a move the diagram forbids is refused.
func TestPieceTableTransitions(t *testing.T) {
	sizes := []int{100, 100, 100, 40}
	pt := newPieceTable(len(sizes), func(i int) int { return sizes[i] })
	check := func(inflight, held int64, counts [numStates]int) {
		t.Helper()
		if pt.inflight != inflight || pt.heldBytes != held || pt.count != counts {
			t.Fatalf("inflight %d held %d counts %v, want %d %d %v", pt.inflight, pt.heldBytes, pt.count, inflight, held, counts)
		}
		n := 0
		for i := range sizes {
			if pt.verified.Has(i) != (pt.get(i) == stHeld) {
				t.Fatalf("piece %d: verified %v in state %v", i, pt.verified.Has(i), pt.get(i))
			}
			if pt.verified.Has(i) {
				n++
			}
		}
		if n != counts[stHeld] {
			t.Fatalf("%d verified, %d held", n, counts[stHeld])
		}
	}
	check(0, 0, [numStates]int{4, 0, 0, 0, 0})
	pt.set(3, stHeld) // found in storage at start
	check(0, 40, [numStates]int{3, 0, 0, 0, 1})

	// The full life of piece 0, with a failed hash on the way.
	pt.set(0, stDownloading)
	buf := cache.NewBuf(make([]byte, 100))
	buf.Ref() // the test's own, to see the table's go
	pt.dl[0] = &pieceDL{b: buf}
	check(100, 40, [numStates]int{2, 1, 0, 0, 1})
	pt.set(0, stHashing)
	check(100, 40, [numStates]int{2, 0, 1, 0, 1})
	pt.set(0, stDownloading) // failed: fetched again into the same buffer
	if pt.dl[0] == nil {
		t.Fatal("a failed piece lost its download")
	}
	pt.set(0, stHashing)
	pt.set(0, stStoring)
	if pt.dl[0] != nil || pt.data[0] != buf {
		t.Fatal("a verified piece kept its download, or its buffer did not move to storing")
	}
	check(100, 40, [numStates]int{2, 0, 0, 1, 1})
	pt.set(0, stHeld)
	if pt.data[0] != nil {
		t.Fatal("a held piece kept its storing bytes")
	}
	buf.Unref() // the test's: the table must have dropped its own already
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the table kept its reference to a stored piece's buffer")
			}
		}()
		buf.Unref()
	}()
	check(0, 140, [numStates]int{2, 0, 0, 0, 2})
	pt.set(0, stMissing) // evicted
	check(0, 40, [numStates]int{3, 0, 0, 0, 1})

	// A reader seeks away mid-piece: downloading → missing.
	pt.set(1, stDownloading)
	buf1 := cache.NewBuf(make([]byte, 100))
	pt.dl[1] = &pieceDL{b: buf1}
	pt.set(1, stMissing)
	if pt.dl[1] != nil {
		t.Fatal("a discarded piece kept its download")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("a discarded download's buffer was not released")
			}
		}()
		buf1.Unref()
	}()
	// Storage refused a verified piece: storing → missing.
	pt.set(2, stDownloading)
	pt.set(2, stHashing)
	pt.set(2, stStoring)
	pt.set(2, stMissing)
	check(0, 40, [numStates]int{3, 0, 0, 0, 1})

	for _, bad := range [][2]pieceState{
		{stMissing, stHashing}, {stMissing, stStoring}, {stHeld, stDownloading},
		{stStoring, stDownloading}, {stHashing, stMissing}, {stDownloading, stHeld},
	} {
		t.Run(fmt.Sprintf("%v->%v", bad[0], bad[1]), func(t *testing.T) {
			pt := newPieceTable(1, func(int) int { return 1 })
			for _, via := range [][]pieceState{
				stMissing: nil, stDownloading: {stDownloading}, stHashing: {stDownloading, stHashing},
				stStoring: {stDownloading, stHashing, stStoring}, stHeld: {stHeld},
			}[bad[0]] {
				pt.set(0, via)
			}
			defer func() {
				if recover() == nil {
					t.Fatalf("%v -> %v was allowed", bad[0], bad[1])
				}
			}()
			pt.set(0, bad[1])
		})
	}
}

// onLoop runs f on tor's loop and waits for it.
func onLoop(t testing.TB, tor *Torrent, f func()) {
	t.Helper()
	done := make(chan struct{})
	if !tor.do(func() { defer close(done); f() }) {
		t.Fatal("torrent stopped")
	}
	<-done
}

// TestEvictedPieceIsMissingEverywhere: a piece the memory cache evicts is
// reported to the loop, which counts it missing at once (Stats, left), and
// rejects a peer's request for it instead of serving from stale state;
// the other pieces are still served. The leecher then reads every piece,
// the evicted one included, from a second seeder, byte-identical.
func TestEvictedPieceIsMissingEverywhere(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 1<<20)
	n := fx.mi.Info.NumPieces()
	fs := fileStorage(t, fx)
	store := cache.New(1 << 30)
	mem := store.Pieces(fx.mi.InfoHash, nil, fx.mi.Info.Layout().PieceSize)
	for i := range n {
		d, _, err := fs.Piece(i)
		if err != nil {
			t.Fatal(err)
		}
		if err := mem.Put(i, append([]byte(nil), d...)); err != nil {
			t.Fatal(err)
		}
	}
	c := newTestClient(t)
	tor, err := c.AddTorrent(fx.mi, mem, TorrentOptions{NoTrackers: true, Seed: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.Port())
	if s := tor.Stats(); s.PiecesVerified != n || s.Left != 0 {
		t.Fatalf("seeder starts with %d/%d pieces, left %d", s.PiecesVerified, n, s.Left)
	}
	rp := dialRaw(t, addr, fx.mi.InfoHash, true)
	rp.next(wire.HaveAll)
	rp.send(wire.Message{ID: wire.Interested})
	rp.next(wire.Unchoke)

	const gone = 5
	store.Remove(cache.Key{InfoHash: fx.mi.InfoHash, Piece: gone})
	waitFor(t, 5*time.Second, func() bool { return tor.Stats().PiecesVerified == n-1 })
	if s := tor.Stats(); s.Left != int64(fx.mi.Info.Layout().PieceSize(gone)) {
		t.Fatalf("left = %d after one eviction", s.Left)
	}
	onLoop(t, tor, func() {
		if st := tor.pieces.get(gone); st != stMissing {
			t.Errorf("evicted piece is %v", st)
		}
	})
	rp.send(wire.Message{ID: wire.Request, Index: gone, Begin: 0, Length: metainfo.BlockSize})
	if m := rp.next(wire.Reject); m.Index != gone {
		t.Fatalf("reject for piece %d", m.Index)
	}
	rp.send(wire.Message{ID: wire.Request, Index: gone + 1, Begin: 0, Length: metainfo.BlockSize})
	if m := rp.next(wire.Piece); m.Index != gone+1 || !bytes.Equal(m.Payload, fx.data[(gone+1)*64*1024:][:metainfo.BlockSize]) {
		t.Fatalf("piece %d block: wrong bytes", m.Index)
	}

	other := seed(t, fx, fs, TorrentOptions{NoTrackers: true})
	lt := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{addr, other}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := readAll(ctx, t, lt, fx, 100_000); !bytes.Equal(got, fx.data) {
		t.Fatal("leecher read differs")
	}
}

// TestByteBudgetModel reads a torrent through a small memory cache with
// readers that seek at random and give up reads half way, and checks on
// the loop, all along, that the byte budget is what the piece table says:
// the cache's reservations match the buffers of pieces in progress, held
// plus reserved bytes stay within the cache, the buffers stay within the
// backlog (plus the pieces reads are blocked on), and no reservation is
// left once the readers are gone. Every byte read is checked, while piece
// buffers are recycled from evicted pieces.
func TestByteBudgetModel(t *testing.T) {
	const pieceLen = 64 * 1024
	fx := newFixture(t, pieceLen, nil, 6<<20)
	fs := fileStorage(t, fx)
	slow := &slowStorage{Storage: fs, delay: 200 * time.Microsecond}
	s1 := seed(t, fx, slow, TorrentOptions{NoTrackers: true})
	s2 := seed(t, fx, slow, TorrentOptions{NoTrackers: true})
	const budget, backlog, readahead, readers = 1 << 20, 256 << 10, 256 << 10, 4
	store := cache.New(budget)
	mem := store.Pieces(fx.mi.InfoHash, nil, fx.mi.Info.Layout().PieceSize)
	c := newTestClient(t)
	tor, err := c.AddTorrent(fx.mi, mem, TorrentOptions{
		NoTrackers: true, Peers: []netip.AddrPort{s1, s2}, Backlog: backlog, Readahead: readahead,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The buffers may pass the backlog only by the pieces reads are
	// blocked on (always started) and the windows those reads left.
	bound := int64(backlog + readers*(readahead+2*pieceLen))
	var mu sync.Mutex
	var violations []string
	var maxInflight int64
	sample := func() {
		pt := tor.pieces
		var inflight, storing int64
		for i := range pt.state {
			if inBuffer(pt.get(i)) {
				inflight += int64(pt.size(i))
			}
			if pt.get(i) == stStoring {
				storing += int64(pt.size(i))
			}
		}
		// Read together: a storer turning a reservation into a held piece
		// between two reads would count it twice. Only the loop (this
		// code) adds reservations; the storer only takes.
		held, res := store.Usage()
		var bad []string
		if inflight != pt.inflight {
			bad = append(bad, fmt.Sprintf("table says %d bytes in buffers, states say %d", pt.inflight, inflight))
		}
		if len(pt.dl) != pt.count[stDownloading]+pt.count[stHashing] || len(pt.data) != pt.count[stStoring] {
			bad = append(bad, fmt.Sprintf("%d downloads, %d storing for counts %v", len(pt.dl), len(pt.data), pt.count))
		}
		if res > inflight || res < inflight-storing {
			bad = append(bad, fmt.Sprintf("reserved %d, buffers %d (%d storing)", res, inflight, storing))
		}
		if res <= budget && held+res > budget {
			bad = append(bad, fmt.Sprintf("held %d + reserved %d > budget", held, res))
		}
		if inflight > bound {
			bad = append(bad, fmt.Sprintf("buffers %d > bound %d", inflight, bound))
		}
		mu.Lock()
		violations = append(violations, bad...)
		maxInflight = max(maxInflight, inflight)
		mu.Unlock()
	}
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				tor.do(sample)
			}
		}
	})

	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for k := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(k), 7))
			r := tor.NewReader(metainfo.File{Offset: 0, Length: fx.mi.Info.Length})
			defer r.Close()
			for range 25 {
				off := rng.Int64N(fx.mi.Info.Length)
				buf := make([]byte, min(int64(1+rng.IntN(3*pieceLen)), fx.mi.Info.Length-off))
				// Some reads give up part way (a seek away, a Ctrl-C).
				d := 20 * time.Second
				if rng.IntN(3) == 0 {
					d = time.Duration(1+rng.IntN(20)) * time.Millisecond
				}
				ctx, cancel := context.WithTimeout(context.Background(), d)
				n, err := r.ReadAt(ctx, buf, off)
				cancel()
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					errs <- err
					return
				}
				if !bytes.Equal(buf[:n], fx.data[off:off+int64(n)]) {
					errs <- fmt.Errorf("read at %d: wrong bytes", off)
					return
				}
				// A sequential stretch now and then grows the window.
				for j := 0; j < 4 && err == nil && rng.IntN(2) == 0; j++ {
					off += int64(n)
					if off >= fx.mi.Info.Length {
						break
					}
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					n, err = r.ReadAt(ctx, buf[:min(int64(len(buf)), fx.mi.Info.Length-off)], off)
					cancel()
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(buf[:n], fx.data[off:off+int64(n)]) {
						errs <- fmt.Errorf("read at %d: wrong bytes", off)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Readers gone: nothing is wanted, so every download is dropped or
	// finishes, and the budget holds no reservation.
	var left string
	waitFor(t, 20*time.Second, func() bool {
		var idle bool
		onLoop(t, tor, func() {
			idle = tor.pieces.inflight == 0
			left = fmt.Sprintf("buffers %d, reserved %d, counts %v", tor.pieces.inflight, store.Reserved(), tor.pieces.count)
			for i, pd := range tor.pieces.dl {
				left += fmt.Sprintf("; piece %d %v prio %v out %d", i, tor.pieces.get(i), tor.pk.Priority(i), len(pd.from))
			}
		})
		return idle && store.Reserved() == 0
	}, func() string { return left })
	close(stop)
	sampler.Wait()
	onLoop(t, tor, func() {
		sample()
		tor.handleEvicted()
		for i := range tor.pieces.state {
			if tor.pieces.held(i) != mem.Has(i) {
				t.Errorf("piece %d: table says held=%v, cache says %v", i, tor.pieces.held(i), mem.Has(i))
			}
		}
	})
	mu.Lock()
	defer mu.Unlock()
	for i, v := range violations {
		if i == 10 {
			t.Errorf("... %d more", len(violations)-10)
			break
		}
		t.Error(v)
	}
	// Pieces were evicted and their buffers reused for new downloads
	// while readers read: the bytes checked above prove no reader saw a
	// buffer recycled under it.
	if store.Pool().Reused() == 0 {
		t.Error("no piece buffer was recycled")
	}
	t.Logf("peak buffers %d KiB (backlog %d KiB); wasted %d KiB; %d buffers recycled", maxInflight>>10, backlog>>10, tor.Stats().Wasted>>10, store.Pool().Reused())
}
