package picker

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/btfs/btfs/swarm/bitfield"
)

// model is a brute-force reference of the picker's state, kept by the test.
type model struct {
	blocks   []int
	prio     []Priority
	verified []bool
	recv     [][]bool
	out      [][]int
	avail    []int
	peers    []*mpeer
}

type mpeer struct {
	has    bitfield.Bitfield
	flight inflight
}

func (m *model) wanted(pc int) bool { return m.prio[pc] != None && !m.verified[pc] }

func (m *model) free(pc, j int) bool { return !m.recv[pc][j] && m.out[pc][j] == 0 }

// fresh returns the highest priority of a block this peer could get without
// duplicating, and whether there is one.
func (m *model) fresh(pr *mpeer) (Priority, bool) {
	best, ok := None, false
	for pc := range m.blocks {
		if !m.wanted(pc) || !pr.has.Has(pc) {
			continue
		}
		for j := range m.blocks[pc] {
			if m.free(pc, j) && !pr.flight[Block{pc, j}] && (!ok || m.prio[pc] > best) {
				best, ok = m.prio[pc], true
			}
		}
	}
	return best, ok
}

// endgame reports whether no wanted piece this peer has has a free block.
func (m *model) endgame(pr *mpeer) bool {
	for pc := range m.blocks {
		if m.wanted(pc) && pr.has.Has(pc) && !m.pieceRequested(pc) {
			return false
		}
	}
	return true
}

// pieceRequested reports whether every block of pc is received or outstanding.
func (m *model) pieceRequested(pc int) bool {
	for j := range m.blocks[pc] {
		if m.free(pc, j) {
			return false
		}
	}
	return true
}

// dupable reports whether the peer could get a second request for some block.
func (m *model) dupable(pr *mpeer) bool {
	for pc := range m.blocks {
		if !m.wanted(pc) || !pr.has.Has(pc) {
			continue
		}
		for j := range m.blocks[pc] {
			if !m.recv[pc][j] && m.out[pc][j] == 1 && !pr.flight[Block{pc, j}] {
				return true
			}
		}
	}
	return false
}

func TestRandomAgainstModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run("", func(t *testing.T) { runModel(t, seed) })
	}
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	n := 1 + rng.IntN(12)
	m := &model{
		blocks:   make([]int, n),
		prio:     make([]Priority, n),
		verified: make([]bool, n),
		recv:     make([][]bool, n),
		out:      make([][]int, n),
		avail:    make([]int, n),
	}
	for i := range n {
		m.blocks[i] = 1 + rng.IntN(5)
		m.recv[i] = make([]bool, m.blocks[i])
		m.out[i] = make([]int, m.blocks[i])
	}
	p := New(n, func(i int) int { return m.blocks[i] }, seed)
	randPeer := func() *mpeer {
		if len(m.peers) == 0 {
			return nil
		}
		return m.peers[rng.IntN(len(m.peers))]
	}
	randFlight := func(pr *mpeer) (Block, bool) {
		if pr == nil || len(pr.flight) == 0 {
			return Block{}, false
		}
		bs := make([]Block, 0, len(pr.flight))
		for b := range pr.flight {
			bs = append(bs, b)
		}
		slices.SortFunc(bs, func(a, b Block) int { return (a.Piece-b.Piece)*100 + a.Index - b.Index })
		return bs[rng.IntN(len(bs))], true
	}
	setAll := func(pc int, v bool) {
		for j := range m.recv[pc] {
			m.recv[pc][j] = v
		}
	}
	for step := range 2000 {
		switch op := rng.IntN(10); op {
		case 0: // priority
			pc, pr := rng.IntN(n), Priority(rng.IntN(5))
			p.SetPriority(pc, pr, int64(rng.IntN(4)))
			m.prio[pc] = pr
		case 1: // connect
			if len(m.peers) >= 5 {
				break
			}
			pr := &mpeer{has: bitfield.New(n), flight: inflight{}}
			for pc := range n {
				if rng.IntN(3) > 0 {
					pr.has.Set(pc)
					m.avail[pc]++
				}
			}
			p.PeerBitfield(&pr.has)
			m.peers = append(m.peers, pr)
		case 2: // have
			if pr, pc := randPeer(), rng.IntN(n); pr != nil && !pr.has.Has(pc) {
				pr.has.Set(pc)
				p.PeerHas(pc)
				m.avail[pc]++
			}
		case 3: // disconnect
			if len(m.peers) == 0 {
				break
			}
			i := rng.IntN(len(m.peers))
			pr := m.peers[i]
			for b := range pr.flight {
				p.Cancelled(b)
				m.out[b.Piece][b.Index]--
			}
			p.PeerGone(&pr.has)
			for pc := range n {
				if pr.has.Has(pc) {
					m.avail[pc]--
				}
			}
			m.peers = slices.Delete(m.peers, i, i+1)
		case 4, 5, 6: // pick
			pr := randPeer()
			if pr == nil {
				break
			}
			max := rng.IntN(7)
			checkPick(t, step, p, m, pr, max)
		case 7: // receive
			pr := randPeer()
			b, ok := randFlight(pr)
			if !ok {
				break
			}
			delete(pr.flight, b)
			m.out[b.Piece][b.Index]--
			if got, want := p.Received(b), !m.recv[b.Piece][b.Index]; got != want {
				t.Fatalf("step %d: Received(%v) = %v, want %v", step, b, got, want)
			}
			m.recv[b.Piece][b.Index] = true
			if p.PieceReceived(b.Piece) && !m.verified[b.Piece] {
				if rng.IntN(4) > 0 {
					p.Verified(b.Piece)
					m.verified[b.Piece] = true
				} else {
					p.Failed(b.Piece)
					setAll(b.Piece, false)
				}
				setAll(b.Piece, m.verified[b.Piece])
			}
		case 8: // cancel
			pr := randPeer()
			if b, ok := randFlight(pr); ok {
				delete(pr.flight, b)
				m.out[b.Piece][b.Index]--
				p.Cancelled(b)
			}
		case 9: // verified from disk, or evicted
			pc := rng.IntN(n)
			if m.verified[pc] {
				p.Missing(pc)
				m.verified[pc] = false
				setAll(pc, false)
			} else if rng.IntN(3) == 0 {
				p.Verified(pc)
				m.verified[pc] = true
				setAll(pc, true)
			}
		}
		checkModel(t, step, p, m)
	}
}

func checkPick(t *testing.T, step int, p *Picker, m *model, pr *mpeer, max int) {
	t.Helper()
	best, fresh := m.fresh(pr)
	endgame := m.endgame(pr)
	dupable := m.dupable(pr)
	got := p.Pick(&pr.has, pr.flight.mine, max, nil)
	if len(got) > max {
		t.Fatalf("step %d: Pick(max %d) returned %d blocks", step, max, len(got))
	}
	if max > 0 && len(got) == 0 && (fresh || endgame && dupable) {
		t.Fatalf("step %d: Pick returned nothing though fresh=%v endgame=%v dupable=%v", step, fresh, endgame, dupable)
	}
	if fresh && len(got) > 0 && m.prio[got[0].Piece] < best {
		t.Fatalf("step %d: first block %v has priority %v, a %v block was free", step, got[0], m.prio[got[0].Piece], best)
	}
	var dups []Block
	for _, b := range got {
		pc, j := b.Piece, b.Index
		switch {
		case !m.wanted(pc):
			t.Fatalf("step %d: picked %v of unwanted piece (prio %v, verified %v)", step, b, m.prio[pc], m.verified[pc])
		case !pr.has.Has(pc):
			t.Fatalf("step %d: picked %v the peer lacks", step, b)
		case pr.flight[b]:
			t.Fatalf("step %d: picked %v already in flight to the peer", step, b)
		case m.recv[pc][j]:
			t.Fatalf("step %d: picked received %v", step, b)
		case m.out[pc][j] >= 2:
			t.Fatalf("step %d: picked %v with %d requests", step, b, m.out[pc][j])
		case m.out[pc][j] == 1:
			dups = append(dups, b)
		}
		pr.flight[b] = true
		m.out[pc][j]++
	}
	if len(got) < max {
		if _, ok := m.fresh(pr); ok {
			t.Fatalf("step %d: Pick returned %d < %d blocks and left a free one", step, len(got), max)
		}
	}
	for _, b := range dups {
		if !(m.prio[b.Piece] == Now && m.pieceRequested(b.Piece)) && !m.endgame(pr) {
			t.Fatalf("step %d: duplicate %v outside endgame", step, b)
		}
	}
}

func checkModel(t *testing.T, step int, p *Picker, m *model) {
	t.Helper()
	checkInvariants(t, p)
	wanted, endgame := 0, true
	for pc := range m.blocks {
		if m.wanted(pc) {
			wanted++
			if !m.pieceRequested(pc) {
				endgame = false
			}
		}
		all := true
		for j := range m.blocks[pc] {
			b := Block{pc, j}
			if got := p.Outstanding(b); got != m.out[pc][j] {
				t.Fatalf("step %d: Outstanding(%v) = %d, want %d", step, b, got, m.out[pc][j])
			}
			all = all && m.recv[pc][j]
		}
		if p.PieceReceived(pc) != all || p.Have(pc) != m.verified[pc] || p.Availability(pc) != m.avail[pc] {
			t.Fatalf("step %d: piece %d: received %v have %v avail %d, want %v %v %d", step, pc,
				p.PieceReceived(pc), p.Have(pc), p.Availability(pc), all, m.verified[pc], m.avail[pc])
		}
	}
	if p.Wanted() != wanted || p.InEndgame() != endgame {
		t.Fatalf("step %d: Wanted %d InEndgame %v, want %d %v", step, p.Wanted(), p.InEndgame(), wanted, endgame)
	}
	for _, pr := range m.peers {
		want := false
		for pc := range m.blocks {
			if m.wanted(pc) && pr.has.Has(pc) && !slices.Equal(m.recv[pc], trues(m.blocks[pc])) {
				want = true
			}
		}
		if p.Interesting(&pr.has) != want {
			t.Fatalf("step %d: Interesting = %v, want %v", step, !want, want)
		}
	}
}

func trues(n int) []bool {
	s := make([]bool, n)
	for i := range s {
		s[i] = true
	}
	return s
}
