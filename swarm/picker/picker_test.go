package picker

import (
	"fmt"
	"slices"
	"testing"

	"github.com/btfs/btfs/swarm/bitfield"
)

// bf returns a bitfield of n bits with the given pieces set; all sets every bit.
func bf(n int, pieces ...int) *bitfield.Bitfield {
	f := bitfield.New(n)
	for _, i := range pieces {
		f.Set(i)
	}
	return &f
}

func all(n int) *bitfield.Bitfield {
	f := bitfield.New(n)
	f.SetAll()
	return &f
}

func uniform(blocks int) func(int) int { return func(int) int { return blocks } }

// inflight is one peer's view of its outstanding requests, used as mine.
type inflight map[Block]bool

func (m inflight) mine(b Block) bool { return m[b] }

// pick calls Pick and records the blocks as in flight for the peer.
func pick(p *Picker, has *bitfield.Bitfield, m inflight, max int) []Block {
	got := p.Pick(has, m.mine, max, nil)
	for _, b := range got {
		m[b] = true
	}
	return got
}

// blocks parses "piece:index" pairs.
func blocks(s ...string) []Block {
	out := []Block{}
	for _, x := range s {
		var b Block
		if _, err := fmt.Sscanf(x, "%d:%d", &b.Piece, &b.Index); err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return out
}

func TestPick(t *testing.T) {
	tests := []struct {
		name   string
		pieces int
		blocks int
		setup  func(p *Picker) // everything before the checked Pick
		has    *bitfield.Bitfield
		mine   inflight
		max    int
		want   []Block
	}{
		{
			name: "priority order", pieces: 5, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.SetPriority(1, Readahead, 0)
				p.SetPriority(2, Next, 0)
				p.SetPriority(3, Now, 0)
			},
			has: all(5), max: 10,
			want: blocks("3:0", "3:1", "2:0", "2:1", "1:0", "1:1", "0:0", "0:1"),
		},
		{
			name: "max respected", pieces: 2, blocks: 4,
			setup: func(p *Picker) { p.SetPriority(0, Now, 0); p.SetPriority(1, Normal, 0) },
			has:   all(2), max: 3,
			want: blocks("0:0", "0:1", "0:2"),
		},
		{
			name: "none never picked", pieces: 2, blocks: 2,
			setup: func(p *Picker) { p.SetPriority(1, Now, 0) },
			has:   bf(2, 0), max: 10,
			want: blocks(),
		},
		{
			name: "back to none", pieces: 2, blocks: 1,
			setup: func(p *Picker) { p.SetPriority(0, Now, 0); p.SetPriority(1, Normal, 0); p.SetPriority(0, None, 0) },
			has:   all(2), max: 10,
			want: blocks("1:0"),
		},
		{
			name: "peer lacking piece", pieces: 3, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Now, 0)
				p.SetPriority(1, Normal, 0)
				p.SetPriority(2, Next, 0)
			},
			has: bf(3, 1), max: 10,
			want: blocks("1:0", "1:1"),
		},
		{
			name: "mine excluded", pieces: 1, blocks: 4,
			setup: func(p *Picker) { p.SetPriority(0, Normal, 0) },
			has:   all(1), mine: inflight{{0, 1}: true}, max: 10,
			want: blocks("0:0", "0:2", "0:3"),
		},
		{
			name: "partial first", pieces: 2, blocks: 4,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.SetPriority(1, Normal, 0)
				p.PeerHas(0)
				for range 3 {
					p.PeerHas(1)
				}
				p.Pick(bf(2, 1), nil, 1, nil)
				p.Received(Block{1, 0})
			},
			has: all(2), max: 4,
			want: blocks("1:1", "1:2", "1:3", "0:0"),
		},
		{
			name: "requested first", pieces: 2, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.SetPriority(1, Normal, 0)
				p.PeerBitfield(all(2))
				p.PeerHas(1)
				p.Pick(bf(2, 1), nil, 1, nil) // 1:0 outstanding elsewhere
			},
			has: all(2), max: 2,
			want: blocks("1:1", "0:0"),
		},
		{
			name: "rarest first", pieces: 3, blocks: 1,
			setup: func(p *Picker) {
				for i := range 3 {
					p.SetPriority(i, Normal, 0)
				}
				p.PeerBitfield(all(3))
				p.PeerBitfield(bf(3, 0, 2))
				p.PeerBitfield(bf(3, 0))
			},
			has: all(3), max: 3,
			want: blocks("1:0", "2:0", "0:0"),
		},
		{
			name: "rarest first after peer gone", pieces: 3, blocks: 1,
			setup: func(p *Picker) {
				for i := range 3 {
					p.SetPriority(i, Normal, 0)
				}
				p.PeerBitfield(all(3))
				p.PeerBitfield(bf(3, 0, 1))
				p.Pick(all(3), nil, 3, nil)
				for i := range 3 {
					p.Cancelled(Block{i, 0})
				}
				p.PeerGone(all(3)) // availability now 1, 1, 0
			},
			has: all(3), max: 1,
			want: blocks("2:0"),
		},
		{
			name: "deadline order", pieces: 5, blocks: 1,
			setup: func(p *Picker) {
				p.SetPriority(0, Readahead, 30)
				p.SetPriority(1, Readahead, 10)
				p.SetPriority(2, Readahead, 20)
				p.SetPriority(3, Readahead, 10)
				p.SetPriority(4, Readahead, 50)
				p.SetPriority(4, Readahead, 5)
			},
			has: all(5), max: 5,
			want: blocks("4:0", "1:0", "3:0", "2:0", "0:0"),
		},
		{
			name: "started beats deadline", pieces: 2, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Readahead, 1)
				p.SetPriority(1, Readahead, 2)
				p.Pick(bf(2, 1), nil, 1, nil)
			},
			has: all(2), max: 2,
			want: blocks("1:1", "0:0"),
		},
		{
			name: "higher priority beats started", pieces: 2, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Readahead, 1)
				p.SetPriority(1, Next, 9)
				p.Pick(bf(2, 0), nil, 1, nil)
			},
			has: all(2), max: 2,
			want: blocks("1:0", "1:1"),
		},
		{
			name: "endgame duplicates", pieces: 1, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.Pick(all(1), nil, 2, nil)
			},
			has: all(1), max: 10,
			want: blocks("0:0", "0:1"),
		},
		{
			name: "endgame at most one duplicate", pieces: 1, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.Pick(all(1), nil, 2, nil)
				p.Pick(all(1), nil, 2, nil)
			},
			has: all(1), max: 10,
			want: blocks(),
		},
		{
			name: "endgame never to the same peer", pieces: 1, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.Pick(all(1), nil, 2, nil)
			},
			has: all(1), mine: inflight{{0, 0}: true, {0, 1}: true}, max: 10,
			want: blocks(),
		},
		{
			name: "endgame after fresh blocks", pieces: 2, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.SetPriority(1, Normal, 0)
				p.Pick(bf(2, 0), nil, 2, nil)
			},
			has: all(2), max: 10,
			want: blocks("1:0", "1:1", "0:0", "0:1"),
		},
		{
			name: "no endgame when max reached", pieces: 2, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.SetPriority(1, Normal, 0)
				p.Pick(bf(2, 0), nil, 2, nil)
			},
			has: all(2), max: 2,
			want: blocks("1:0", "1:1"),
		},
		{
			name: "no endgame while a free block is mine", pieces: 2, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.SetPriority(1, Normal, 0)
				p.Pick(bf(2, 0), nil, 2, nil)
			},
			has: all(2), mine: inflight{{1, 1}: true}, max: 10,
			want: blocks("1:0"),
		},
		{
			name: "endgame ignores pieces the peer lacks", pieces: 2, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.SetPriority(1, Normal, 0)
				p.Pick(bf(2, 0), nil, 2, nil)
			},
			has: bf(2, 0), max: 10,
			want: blocks("0:0", "0:1"),
		},
		{
			name: "endgame most urgent first", pieces: 3, blocks: 1,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.SetPriority(1, Readahead, 0)
				p.SetPriority(2, Next, 0)
				p.Pick(all(3), nil, 3, nil)
			},
			has: all(3), max: 2,
			want: blocks("2:0", "1:0"),
		},
		{
			name: "cancelled block picked fresh", pieces: 1, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.Pick(all(1), nil, 2, nil)
				p.Cancelled(Block{0, 1})
			},
			has: all(1), max: 1,
			want: blocks("0:1"),
		},
		{
			name: "received block never picked", pieces: 1, blocks: 3,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.Pick(all(1), nil, 3, nil)
				p.Received(Block{0, 0})
				p.Received(Block{0, 2})
			},
			has: all(1), max: 10,
			want: blocks("0:1"),
		},
		{
			name: "now duplicates before endgame", pieces: 2, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Now, 0)
				p.SetPriority(1, Normal, 0)
				p.Pick(bf(2, 0), nil, 2, nil)
			},
			has: all(2), max: 3,
			want: blocks("0:0", "0:1", "1:0"),
		},
		{
			name: "now duplicates once every block requested", pieces: 2, blocks: 4,
			setup: func(p *Picker) {
				p.SetPriority(0, Now, 0)
				p.SetPriority(1, Normal, 0)
				p.Pick(bf(2, 0), nil, 2, nil)
			},
			has: all(2), max: 5,
			want: blocks("0:2", "0:3", "0:0", "0:1", "1:0"),
		},
		{
			name: "no now duplicates while a free block is left", pieces: 1, blocks: 3,
			setup: func(p *Picker) {
				p.SetPriority(0, Now, 0)
				p.Pick(all(1), nil, 1, nil)
			},
			has: all(1), mine: inflight{{0, 1}: true}, max: 5,
			want: blocks("0:2"),
		},
		{
			name: "no duplicates for next outside endgame", pieces: 2, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Next, 0)
				p.SetPriority(1, Normal, 0)
				p.Pick(bf(2, 0), nil, 2, nil)
			},
			has: all(2), max: 2,
			want: blocks("1:0", "1:1"),
		},
		{
			name: "failed resets blocks", pieces: 1, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Normal, 0)
				p.Pick(all(1), nil, 2, nil)
				p.Received(Block{0, 0})
				p.Received(Block{0, 1})
				p.Failed(0)
			},
			has: all(1), max: 10,
			want: blocks("0:0", "0:1"),
		},
		{
			name: "verified removes", pieces: 2, blocks: 1,
			setup: func(p *Picker) {
				p.SetPriority(0, Now, 0)
				p.SetPriority(1, Normal, 0)
				p.Pick(all(2), nil, 1, nil)
				p.Received(Block{0, 0})
				p.Verified(0)
				p.SetPriority(0, Now, 0)
			},
			has: all(2), max: 10,
			want: blocks("1:0"),
		},
		{
			name: "missing brings back", pieces: 2, blocks: 2,
			setup: func(p *Picker) {
				p.SetPriority(0, Readahead, 1)
				p.SetPriority(1, Readahead, 2)
				p.Verified(0)
				p.Missing(0)
			},
			has: all(2), max: 2,
			want: blocks("0:0", "0:1"),
		},
		{
			name: "uneven last piece", pieces: 2, blocks: 0, // blocks 0: see blocksIn below
			setup: func(p *Picker) { p.SetPriority(1, Now, 0); p.SetPriority(0, Normal, 0) },
			has:   all(2), max: 5,
			want: blocks("1:0", "0:0", "0:1", "0:2"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocksIn := uniform(tt.blocks)
			if tt.blocks == 0 {
				blocksIn = func(i int) int { return 3 - 2*i }
			}
			p := New(tt.pieces, blocksIn, 1)
			tt.setup(p)
			checkInvariants(t, p)
			mine := tt.mine
			if mine == nil {
				mine = inflight{}
			}
			got := p.Pick(tt.has, mine.mine, tt.max, nil)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Pick = %v, want %v", got, tt.want)
			}
			checkInvariants(t, p)
		})
	}
}

func TestPickAppends(t *testing.T) {
	p := New(1, uniform(4), 1)
	p.SetPriority(0, Normal, 0)
	out := make([]Block, 1, 8)
	out[0] = Block{9, 9}
	out = p.Pick(all(1), nil, 2, out)
	if want := blocks("9:9", "0:0", "0:1"); !slices.Equal(out, want) {
		t.Fatalf("Pick = %v, want %v", out, want)
	}
	if got := p.Pick(all(1), nil, 0, nil); len(got) != 0 {
		t.Fatalf("Pick with max 0 = %v", got)
	}
}

func TestBlockState(t *testing.T) {
	p := New(2, uniform(2), 1)
	p.SetPriority(0, Normal, 0)
	p.SetPriority(1, Now, 0)
	a, b := inflight{}, inflight{}
	pick(p, all(2), a, 4)
	if got := pick(p, all(2), b, 1); !slices.Equal(got, blocks("1:0")) {
		t.Fatalf("now duplicate = %v", got)
	}
	steps := []struct {
		name        string
		op          func() bool // result checked against want when non-nil
		want        bool
		block       Block
		outstanding int
	}{
		{"duplicate outstanding", nil, false, Block{1, 0}, 2},
		{"first receipt", func() bool { return p.Received(Block{1, 0}) }, true, Block{1, 0}, 1},
		{"duplicate receipt", func() bool { return p.Received(Block{1, 0}) }, false, Block{1, 0}, 0},
		{"piece not yet received", func() bool { return p.PieceReceived(1) }, false, Block{1, 1}, 1},
		{"last block", func() bool { return p.Received(Block{1, 1}) }, true, Block{1, 1}, 0},
		{"piece received", func() bool { return p.PieceReceived(1) }, true, Block{1, 1}, 0},
		{"not have before verify", func() bool { return p.Have(1) }, false, Block{1, 1}, 0},
		{"have after verify", func() bool { p.Verified(1); return p.Have(1) }, true, Block{1, 1}, 0},
		{"cancel", func() bool { p.Cancelled(Block{0, 0}); return p.InEndgame() }, false, Block{0, 0}, 0},
		{"cancel below zero", func() bool { p.Cancelled(Block{0, 0}); return false }, false, Block{0, 0}, 0},
		{"failed keeps outstanding", func() bool { p.Received(Block{0, 0}); p.Failed(0); return p.PieceReceived(0) }, false, Block{0, 1}, 1},
		{"missing unverifies", func() bool { p.Missing(1); return p.Have(1) || p.PieceReceived(1) }, false, Block{1, 0}, 0},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.op != nil {
				if got := s.op(); got != s.want {
					t.Fatalf("got %v, want %v", got, s.want)
				}
			}
			if got := p.Outstanding(s.block); got != s.outstanding {
				t.Fatalf("Outstanding(%v) = %d, want %d", s.block, got, s.outstanding)
			}
			checkInvariants(t, p)
		})
	}
	if got, want := p.Wanted(), 2; got != want {
		t.Fatalf("Wanted = %d, want %d", got, want)
	}
}

func TestPriorityAndAvailability(t *testing.T) {
	p := New(3, uniform(1), 1)
	p.SetPriority(0, Readahead, 7)
	p.SetPriority(1, Normal, 0)
	p.PeerBitfield(all(3))
	p.PeerHas(2)
	p.PeerGone(bf(3, 0))
	tests := []struct {
		piece int
		prio  Priority
		avail int
	}{{0, Readahead, 0}, {1, Normal, 1}, {2, None, 2}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.piece), func(t *testing.T) {
			if got := p.Priority(tt.piece); got != tt.prio {
				t.Errorf("Priority = %v, want %v", got, tt.prio)
			}
			if got := p.Availability(tt.piece); got != tt.avail {
				t.Errorf("Availability = %d, want %d", got, tt.avail)
			}
		})
	}
	if p.Wanted() != 2 {
		t.Errorf("Wanted = %d, want 2", p.Wanted())
	}
	names := map[Priority]string{None: "none", Normal: "normal", Readahead: "readahead", Next: "next", Now: "now", 9: "Priority(9)"}
	for pr, want := range names {
		if got := pr.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(pr), got, want)
		}
	}
}

func TestRandomTieBreak(t *testing.T) {
	const n = 64
	order := func(seed uint64) []int {
		p := New(n, uniform(1), seed)
		for i := range n {
			p.SetPriority(i, Normal, 0)
		}
		p.PeerBitfield(all(n))
		var got []int
		for _, b := range p.Pick(all(n), nil, n, nil) {
			got = append(got, b.Piece)
		}
		if len(got) != n {
			t.Fatalf("seed %d: picked %d pieces, want %d", seed, len(got), n)
		}
		return got
	}
	first := order(1)
	if !slices.Equal(first, order(1)) {
		t.Fatal("same seed gave different orders")
	}
	if slices.IsSorted(first) {
		t.Fatal("ties are not broken randomly: order is by index")
	}
	differ := false
	for seed := uint64(2); seed < 10 && !differ; seed++ {
		differ = !slices.Equal(first, order(seed))
	}
	if !differ {
		t.Fatal("every seed gave the same order")
	}
}

func TestPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"no blocks", func() { New(2, func(i int) int { return i }, 1) }},
		{"bad priority", func() { New(1, uniform(1), 1).SetPriority(0, Now+1, 0) }},
		{"block past piece", func() { New(2, uniform(2), 1).Received(Block{0, 2}) }},
		{"negative block", func() { New(2, uniform(2), 1).Cancelled(Block{1, -1}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.f()
		})
	}
}

func TestInteresting(t *testing.T) {
	tests := []struct {
		name  string
		setup func(p *Picker)
		has   *bitfield.Bitfield
		want  bool
	}{
		{"nothing wanted", func(p *Picker) {}, all(3), false},
		{"wanted piece", func(p *Picker) { p.SetPriority(1, Normal, 0) }, bf(3, 1), true},
		{"wanted piece missing from peer", func(p *Picker) { p.SetPriority(1, Normal, 0) }, bf(3, 0, 2), false},
		{"verified", func(p *Picker) { p.SetPriority(1, Normal, 0); p.Verified(1) }, all(3), false},
		{"fully requested still interesting", func(p *Picker) {
			p.SetPriority(1, Now, 0)
			p.Pick(all(3), nil, 2, nil)
		}, all(3), true},
		{"fully received", func(p *Picker) {
			p.SetPriority(1, Now, 0)
			p.Received(Block{1, 0})
			p.Received(Block{1, 1})
		}, all(3), false},
		{"empty bitfield", func(p *Picker) { p.SetPriority(0, Now, 0) }, bf(3), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(3, uniform(2), 1)
			tt.setup(p)
			if got := p.Interesting(tt.has); got != tt.want {
				t.Fatalf("Interesting = %v, want %v", got, tt.want)
			}
		})
	}
}

// checkInvariants compares the picker's cached state with a recount from
// scratch: counters, hints, order membership and sortedness.
func checkInvariants(t *testing.T, p *Picker) {
	t.Helper()
	wanted := 0
	for pc := range p.pieces {
		ps := &p.pieces[pc]
		var c piece
		for j := range int(ps.n) {
			k := ps.off + j
			c.count(p.rcv[k], p.out[k], 1)
			if !p.rcv[k] && p.out[k] == 0 && int32(j) < ps.hint {
				t.Fatalf("piece %d: free block %d below hint %d", pc, j, ps.hint)
			}
		}
		if c.free != ps.free || c.single != ps.single || c.recv != ps.recv {
			t.Fatalf("piece %d: counters free/single/recv %d/%d/%d, recount %d/%d/%d",
				pc, ps.free, ps.single, ps.recv, c.free, c.single, c.recv)
		}
		if ps.wanted() != (ps.pos >= 0) {
			t.Fatalf("piece %d: wanted %v but pos %d", pc, ps.wanted(), ps.pos)
		}
		if ps.pos >= 0 {
			wanted++
			if int(ps.pos) < p.lo || int(ps.pos) >= p.hi {
				t.Fatalf("piece %d: pos %d outside [%d, %d)", pc, ps.pos, p.lo, p.hi)
			}
			if int(p.order[ps.pos]) != pc {
				t.Fatalf("piece %d: pos %d holds %d", pc, ps.pos, p.order[ps.pos])
			}
		}
	}
	if wanted != p.hi-p.lo {
		t.Fatalf("order has %d pieces, %d wanted", p.hi-p.lo, wanted)
	}
	if !p.dirty {
		for i := p.lo + 1; i < p.hi; i++ {
			if !p.less(int(p.order[i-1]), int(p.order[i])) {
				t.Fatalf("order not sorted at %d: %v", i, p.order[p.lo:p.hi])
			}
		}
	}
}

// TestDuplicatePolicy: with Now duplicates off, a fully requested Now piece
// gets no second request from Pick (only Duplicate adds one, once); with
// endgame off too, nothing is ever duplicated.
func TestDuplicatePolicy(t *testing.T) {
	all := bitfield.New(1)
	all.SetAll()
	for _, tc := range []struct {
		name         string
		now, endgame bool
		wantDup      int // second requests Pick hands a second peer
	}{
		{"now and endgame", true, true, 2},
		{"endgame only", false, true, 2},
		{"none", false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(1, func(int) int { return 2 }, 1)
			p.SetDuplicates(tc.now, tc.endgame)
			p.SetPriority(0, Now, 0)
			if got := p.Pick(&all, nil, 8, nil); len(got) != 2 {
				t.Fatalf("first peer got %v", got)
			}
			mine := func(Block) bool { return false }
			if got := p.Pick(&all, mine, 8, nil); len(got) != tc.wantDup {
				t.Fatalf("second peer got %v, want %d duplicates", got, tc.wantDup)
			}
		})
	}
	p := New(1, func(int) int { return 2 }, 1)
	p.SetDuplicates(false, false)
	p.SetPriority(0, Now, 0)
	p.Pick(&all, nil, 8, nil)
	if !p.Duplicate(Block{0, 1}) || p.Outstanding(Block{0, 1}) != 2 {
		t.Fatal("Duplicate of a singly requested block failed")
	}
	if p.Duplicate(Block{0, 1}) {
		t.Fatal("a third request was recorded")
	}
	p.Received(Block{0, 0})
	if p.Duplicate(Block{0, 0}) {
		t.Fatal("a received block was duplicated")
	}
}

// TestPickLimitStartsFewNewPieces: PickLimit starts at most the given
// number of new pieces, keeps feeding pieces in progress, and starts Now
// pieces regardless.
func TestPickLimitStartsFewNewPieces(t *testing.T) {
	p := New(6, uniform(2), 1)
	p.SetDuplicates(false, false)
	for i := range 6 {
		p.SetPriority(i, Readahead, int64(i))
	}
	busy := map[int]bool{}
	inProgress := func(i int) bool { return busy[i] }
	got := p.PickLimit(all(6), nil, 100, 1, inProgress, nil)
	if want := []Block{{0, 0}, {0, 1}}; !slices.Equal(got, want) {
		t.Fatalf("one new piece allowed: got %v, want %v", got, want)
	}
	busy[0] = true
	p.Cancelled(Block{0, 1}) // its second block is free again
	if got := p.PickLimit(all(6), nil, 100, 0, inProgress, nil); !slices.Equal(got, []Block{{0, 1}}) {
		t.Fatalf("no new piece allowed: got %v, want the rest of piece 0", got)
	}
	p.SetPriority(4, Now, 0)
	if got := p.PickLimit(all(6), nil, 100, 0, inProgress, nil); !slices.Equal(got, []Block{{4, 0}, {4, 1}}) {
		t.Fatalf("a Now piece is always started: got %v", got)
	}
	if got := p.PickLimit(all(6), nil, 6, -1, inProgress, nil); len(got) != 6 || got[0].Piece != 1 {
		t.Fatalf("no limit: got %v, want the free blocks of pieces 1, 2 and 3", got)
	}
}
