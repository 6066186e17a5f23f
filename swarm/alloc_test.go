package swarm

import (
	"bufio"
	"net"
	"testing"

	"github.com/btfs/btfs/swarm/wire"
)

// TestBlockPathAllocations drives the event loop's per-block path (block
// arrives, is stored, the pipeline is refilled with a new request) and
// checks it allocates nothing per block beyond each piece's own buffers.
func TestBlockPathAllocations(t *testing.T) {
	var perBlock float64
	onBlockPath(t, func(block func()) {
		for range 64 { // warm up pools and maps
			block()
		}
		const n = 1024
		perBlock = testing.AllocsPerRun(n, block)
	})
	// AllocsPerRun rounds down: a 1 MiB piece's own buffers (a few
	// allocations per 64 blocks) vanish, any allocation per block shows.
	if perBlock > 0 {
		t.Fatalf("%.3f allocations per block, want (amortized) none", perBlock)
	}
	t.Logf("%.3f allocations per block", perBlock)
}

// BenchmarkReceiveBlock is the receive path of one 16 KiB block on the
// loop: the pooled payload copy, storing it in its piece, and refilling the
// pipeline with a new request (which the peer's writer then sends).
func BenchmarkReceiveBlock(b *testing.B) {
	onBlockPath(b, func(block func()) {
		b.ReportAllocs()
		b.SetBytes(16 * 1024)
		b.ResetTimer()
		for range b.N {
			block()
		}
	})
}

// onBlockPath sets up a leecher with one fake peer on a pipe and calls run,
// on the event loop, with a function that receives the next requested
// block.
func onBlockPath(tb testing.TB, run func(block func())) {
	fx := newFixture(tb, 1<<20, nil, 48<<20)
	tor := leech(tb, fx, TorrentOptions{NoTrackers: true, Prefetch: PrefetchAll})
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	done := make(chan struct{})
	tor.do(func() {
		defer close(done)
		hs := wire.Handshake{}
		hs.PeerID[0] = 1
		p := newPeer(tor, c1, hs, true)
		p.peerChoking = false
		p.bf.SetAll()
		tor.pk.PeerBitfield(&p.bf)
		tor.peers[p] = struct{}{}
		defer delete(tor.peers, p)
		// The peer's writer sends our requests down the pipe; we read
		// them at the other end.
		writerDone := make(chan struct{})
		go func() { defer close(writerDone); p.pc.WriteLoop() }()
		defer func() { p.shut(); <-writerDone }()
		r := wire.NewReader(bufio.NewReader(c2), wire.Limits{})
		tor.fillRequests(p)
		next := func() wire.Message {
			for {
				m, err := r.Read()
				if err != nil {
					tb.Fatal(err)
				}
				if m.ID == wire.Request {
					return m
				}
			}
		}
		block := func() {
			r := next()
			off := tor.layout.PieceOffset(int(r.Index)) + int64(r.Begin)
			payload := tor.blocks.Copy(fx.data[off : off+int64(r.Length)])
			if err := tor.handleBlock(p, wire.Message{ID: wire.Piece, Index: r.Index, Begin: r.Begin, Payload: payload}); err != nil {
				tb.Error(err)
			}
			// No hashing here, only the block path: a complete piece is
			// forgotten and becomes missing again, to be fetched anew.
			for _, j := range tor.hashQ {
				tor.setState(j.Piece, stDownloading)
				tor.setState(j.Piece, stMissing)
				tor.pk.Failed(j.Piece)
			}
			tor.hashQ = tor.hashQ[:0]
		}
		run(block)
	})
	<-done
}
