package picker

import "testing"

// BenchmarkPick measures the steady state of the event loop: a block arrives,
// and one more is requested from the same peer. 4096 pieces of 64 blocks,
// Normal priority, the peer has everything.
func BenchmarkPick(b *testing.B) {
	const pieces, blocks = 4096, 64
	p := New(pieces, uniform(blocks), 1)
	for i := range pieces {
		p.SetPriority(i, Normal, 0)
	}
	has := all(pieces)
	p.PeerBitfield(has)
	p.PeerBitfield(all(pieces))
	mine := func(Block) bool { return false }
	out := make([]Block, 0, 1)
	// Fill a pipeline of 16 requests, as a peer connection would.
	out = p.Pick(has, mine, 16, out[:0])
	pipe := append([]Block(nil), out...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		done := pipe[i%len(pipe)]
		p.Received(done)
		if p.PieceReceived(done.Piece) {
			p.Verified(done.Piece)
		}
		out = p.Pick(has, mine, 1, out[:0])
		if len(out) == 0 {
			b.StopTimer()
			for pc := range pieces {
				p.Missing(pc)
			}
			b.StartTimer()
			out = p.Pick(has, mine, 1, out[:0])
		}
		pipe[i%len(pipe)] = out[0]
	}
}
