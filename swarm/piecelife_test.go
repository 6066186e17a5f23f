package swarm

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/btfs/btfs/cache"
)

// pendingState reports, from the loop, whether piece i has a partial
// download and how many of its blocks arrived.
func pendingState(tor *Torrent, i int) (bool, int) {
	type res struct {
		ok bool
		n  int
	}
	c := make(chan res, 1)
	if !tor.do(func() {
		pd := tor.pieces.dl[i]
		n := 0
		if pd != nil {
			for _, f := range pd.from {
				if f != nil {
					n++
				}
			}
		}
		c <- res{pd != nil, n}
	}) {
		return false, 0
	}
	r := <-c
	return r.ok, r.n
}

// TestSeekAwayGivesBufferBack: a read blocked on a piece is interrupted
// after part of the piece arrived; nobody wants the piece any more, so its
// partial download is dropped (buffer given back, bytes counted as
// discarded waste) and a later read fetches it again, whole and right.
func TestSeekAwayGivesBufferBack(t *testing.T) {
	fx := newFixture(t, 256*1024, nil, 4<<20)
	st := &slowStorage{Storage: fileStorage(t, fx), delay: 30 * time.Millisecond}
	s := seed(t, fx, st, TorrentOptions{NoTrackers: true})
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{s}, Prefetch: PrefetchNone})
	r := tor.NewReader(fx.mi.Info.Files[0])
	defer r.Close()
	const piece = 3
	off := tor.layout.PieceOffset(piece)
	ctx, cancel := context.WithCancel(context.Background())
	readDone := make(chan error, 1)
	go func() {
		_, err := r.ReadAt(ctx, make([]byte, 1), off)
		readDone <- err
	}()
	waitFor(t, 10*time.Second, func() bool { _, n := pendingState(tor, piece); return n >= 2 })
	cancel() // the reader gives up (a seek away, a Ctrl-C)
	if err := <-readDone; err == nil {
		t.Fatal("the interrupted read succeeded")
	}
	waitFor(t, 5*time.Second, func() bool { ok, _ := pendingState(tor, piece); return !ok })
	if w := tor.Stats().WastedDiscarded; w <= 0 {
		t.Errorf("discarded bytes = %d, want the partial piece's", w)
	}
	// Wanted again: fetched from scratch and verified.
	got := make([]byte, tor.layout.PieceSize(piece))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	if _, err := r.ReadAt(ctx2, got, off); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, fx.data[off:off+int64(len(got))]) {
		t.Fatal("piece read after the discard differs")
	}
}

// slowPut delays every Put, so verified pieces queue up for storage.
type slowPut struct {
	Storage
	delay time.Duration
}

func (s slowPut) Put(piece int, data []byte) error {
	time.Sleep(s.delay)
	return s.Storage.Put(piece, data)
}

// TestCloseStoresQueuedPieces: pieces verified but still queued for
// storage when the torrent closes (an unmount right after a read) are
// written, not dropped.
func TestCloseStoresQueuedPieces(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 4<<20)
	s := seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true})
	mem := cache.New(1<<30).Pieces(fx.mi.InfoHash, nil, fx.mi.Info.Layout().PieceSize)
	c := newTestClient(t)
	tor, err := c.AddTorrent(fx.mi, slowPut{Storage: mem, delay: 20 * time.Millisecond}, TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{s}, Prefetch: PrefetchAll})
	if err != nil {
		t.Fatal(err)
	}
	total := int64(len(fx.data))
	waitFor(t, 30*time.Second, func() bool { return tor.Stats().Downloaded == total })
	tor.Close()
	for i := range fx.mi.Info.NumPieces() {
		if !mem.Has(i) {
			t.Fatalf("piece %d was verified but is not stored after Close", i)
		}
	}
}
