package swarm

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/picker"
	"github.com/btfs/btfs/swarm/wire"
)

// waitBlocked polls tor.BlockedReads until cond holds for its answer.
func waitBlocked(t *testing.T, tor *Torrent, what string, cond func([]BlockedRead) bool) []BlockedRead {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		br := tor.BlockedReads(ctx)
		cancel()
		if cond(br) {
			return br
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; blocked reads: %+v", what, br)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBlockedReads: a read of a piece nobody sends is listed with its
// file, offsets, size and piece, and how many connected peers have that
// piece (one that has everything and never unchokes us); the piece is
// wanted now. Once the read's ctx is cancelled the read is gone from the
// list and the piece is wanted no more.
func TestBlockedReads(t *testing.T) {
	const pieceLen = 32 * 1024
	fx := newFixture(t, pieceLen, nil, 50_000, 200_000)
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Prefetch: PrefetchNone})
	rp := dialRaw(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tor.cl.Port()), fx.mi.InfoHash, true)
	rp.send(wire.Message{ID: wire.HaveAll}) // and stays choking us

	f := fx.mi.Info.Files[1]
	r := tor.NewReader(f)
	defer r.Close()
	off := f.Offset + 100_000 // in piece 4
	piece := int(off / pieceLen)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errC := make(chan error, 1)
	go func() {
		_, err := r.ReadAt(ctx, make([]byte, 5000), off)
		errC <- err
	}()

	br := waitBlocked(t, tor, "the read and the peer", func(br []BlockedRead) bool {
		return len(br) == 1 && br[0].PeersWithPiece == 1
	})
	got := br[0]
	if !slices.Equal(got.Path, f.Path) || got.FileOffset != 100_000 || got.Offset != off || got.Size != 5000 || got.Piece != piece {
		t.Errorf("blocked read = %+v, want path %v, file offset 100000, offset %d, size 5000, piece %d", got, f.Path, off, piece)
	}
	if got.Waiting < 0 {
		t.Errorf("waiting %v", got.Waiting)
	}
	onLoop(t, tor, func() {
		tor.updatePriorities() // derived lazily, when a peer could be asked
		if pr := tor.pk.Priority(piece); pr != picker.Now {
			t.Errorf("piece %d under a blocked read has priority %v, want %v", piece, pr, picker.Now)
		}
	})

	cancel()
	select {
	case err := <-errC:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled read: err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled read did not return")
	}
	waitBlocked(t, tor, "no blocked reads", func(br []BlockedRead) bool { return br != nil && len(br) == 0 })
	onLoop(t, tor, func() {
		if pr := tor.pk.Priority(piece); pr != picker.None {
			t.Errorf("piece %d nobody waits for has priority %v, want %v", piece, pr, picker.None)
		}
		if n := len(tor.waiters); n != 0 {
			t.Errorf("%d pieces still have waiters", n)
		}
	})
}

// TestBlockedReadsAfterClose: a stopped torrent answers nil, at once.
func TestBlockedReadsAfterClose(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 50_000)
	tor := leech(t, fx, TorrentOptions{NoTrackers: true})
	tor.Close()
	if br := tor.BlockedReads(context.Background()); br != nil {
		t.Fatalf("BlockedReads after Close = %+v, want nil", br)
	}
}
