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
	fx := newFixture(t, 1<<20, nil, 48<<20)
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Prefetch: PrefetchAll})
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	var perBlock float64
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
					t.Fatal(err)
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
				t.Error(err)
			}
			tor.hashQ = tor.hashQ[:0] // no hashing here: only the block path
		}
		for range 64 { // warm up pools and maps
			block()
		}
		const n = 1024
		perBlock = testing.AllocsPerRun(n, block)
	})
	<-done
	// AllocsPerRun rounds down: a 1 MiB piece's own buffers (a few
	// allocations per 64 blocks) vanish, any allocation per block shows.
	if perBlock > 0 {
		t.Fatalf("%.3f allocations per block, want (amortized) none", perBlock)
	}
	t.Logf("%.3f allocations per block", perBlock)
}
