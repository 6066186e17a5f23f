package choker

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func ids(m map[int]bool) []int {
	s := slices.Collect(maps.Keys(m))
	slices.Sort(s)
	return s
}

// down returns an interested, choked peer with the given download rate.
func down(id int, rate float64) Peer {
	return Peer{ID: id, Interested: true, DownRate: rate, Choked: true}
}

// up returns an interested, choked peer with the given upload rate.
func up(id int, rate float64) Peer {
	return Peer{ID: id, Interested: true, UpRate: rate, Choked: true}
}

func uninterested(p Peer) Peer { p.Interested = false; return p }
func snubbed(p Peer) Peer      { p.Snubbed = true; return p }
func unchoked(p Peer) Peer     { p.Choked = false; return p }

// TestRegular checks the regular slots and the uninterested extras. Cases
// with more interested peers than slots also get an optimistic unchoke, which
// is random; opt lists the IDs it may be (exactly one of them is unchoked).
func TestRegular(t *testing.T) {
	tests := []struct {
		name    string
		peers   []Peer
		slots   int
		seeding bool
		want    []int // regular unchokes and uninterested extras
		opt     []int // possible optimistic unchokes; nil means none
	}{
		{
			name:  "empty",
			peers: nil,
			want:  nil,
		},
		{
			name:  "best 4 by DownRate",
			peers: []Peer{down(1, 10), down(2, 50), down(3, 30), down(4, 20), down(5, 40), down(6, 5)},
			want:  []int{2, 3, 4, 5},
			opt:   []int{1, 6},
		},
		{
			name:    "UpRate ignored when downloading",
			peers:   []Peer{{ID: 1, Interested: true, DownRate: 1, UpRate: 100}, down(2, 2), down(3, 3), down(4, 4), down(5, 5)},
			want:    []int{2, 3, 4, 5},
			opt:     []int{1},
			seeding: false,
		},
		{
			name:    "best 4 by UpRate when seeding",
			peers:   []Peer{up(1, 10), up(2, 50), up(3, 30), up(4, 20), up(5, 40), {ID: 6, Interested: true, DownRate: 1000, UpRate: 1}},
			seeding: true,
			want:    []int{2, 3, 4, 5},
			opt:     []int{1, 6},
		},
		{
			name:    "snubbed not ranked last when seeding",
			peers:   []Peer{snubbed(up(1, 100)), up(2, 1), up(3, 2), up(4, 3), up(5, 4)},
			seeding: true,
			want:    []int{1, 3, 4, 5},
			opt:     []int{2},
		},
		{
			name:  "snubbed ranked last",
			peers: []Peer{snubbed(down(1, 1000)), down(2, 1), down(3, 2), down(4, 3), down(5, 4), snubbed(down(6, 2000))},
			want:  []int{2, 3, 4, 5},
			opt:   []int{1, 6},
		},
		{
			name:  "snubbed fill free slots",
			peers: []Peer{snubbed(down(1, 0)), down(2, 5)},
			want:  []int{1, 2},
		},
		{
			name:  "slots default to 4",
			peers: []Peer{down(1, 1), down(2, 2), down(3, 3), down(4, 4), down(5, 5)},
			slots: -1,
			want:  []int{2, 3, 4, 5},
			opt:   []int{1},
		},
		{
			name:  "explicit slots",
			peers: []Peer{down(1, 1), down(2, 2), down(3, 3), down(4, 4), down(5, 5)},
			slots: 2,
			want:  []int{4, 5},
			opt:   []int{1, 2, 3},
		},
		{
			name:  "fewer peers than slots",
			peers: []Peer{down(7, 1), down(3, 0), uninterested(down(9, 0))},
			want:  []int{3, 7},
		},
		{
			name:  "exactly slots peers",
			peers: []Peer{down(1, 1), down(2, 2), down(3, 3), down(4, 4)},
			want:  []int{1, 2, 3, 4},
		},
		{
			name:  "ties broken by lower ID",
			peers: []Peer{down(9, 5), down(8, 5), down(7, 5), down(6, 5), down(5, 5), down(4, 5)},
			want:  []int{4, 5, 6, 7},
			opt:   []int{8, 9},
		},
		{
			name: "uninterested never take a regular slot",
			peers: []Peer{
				uninterested(down(1, 1000)), uninterested(down(2, 900)),
				down(3, 1), down(4, 2), down(5, 3), down(6, 4), down(7, 0),
			},
			// 1 and 2 are better than the worst regular (3), so they stay
			// unchoked as extras; the slots still go to 3..6.
			want: []int{1, 2, 3, 4, 5, 6},
			opt:  []int{7},
		},
		{
			name: "uninterested not better than worst regular",
			peers: []Peer{
				uninterested(down(1, 10)), uninterested(unchoked(down(2, 5))),
				down(3, 10), down(4, 20), down(5, 30), down(6, 40),
			},
			want: []int{3, 4, 5, 6},
		},
		{
			name: "at most slots uninterested extras",
			peers: []Peer{
				uninterested(down(1, 100)), uninterested(down(2, 200)), uninterested(down(3, 300)),
				down(4, 1), down(5, 2),
			},
			slots: 2,
			want:  []int{2, 3, 4, 5},
		},
		{
			name: "snubbed uninterested no extra",
			peers: []Peer{
				uninterested(snubbed(down(1, 100))), down(2, 1),
			},
			want: []int{2},
		},
		{
			name:  "no interested peers",
			peers: []Peer{uninterested(down(1, 100)), uninterested(down(2, 200))},
			want:  nil,
		},
		{
			name:    "uninterested extras by UpRate when seeding",
			peers:   []Peer{uninterested(up(1, 100)), uninterested(down(2, 100)), up(3, 50)},
			seeding: true,
			want:    []int{1, 3},
		},
		{
			name:  "NaN rate ranks lowest",
			peers: []Peer{down(1, math.NaN()), down(2, 0), down(3, 0), down(4, 0), down(5, 0)},
			want:  []int{2, 3, 4, 5},
			opt:   []int{1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(20) {
				got := New(seed).Decide(t0, tt.peers, tt.slots, tt.seeding)
				var opts []int
				for _, id := range tt.opt {
					if got[id] {
						opts = append(opts, id)
					}
					delete(got, id)
				}
				if g := ids(got); !slices.Equal(g, tt.want) {
					t.Fatalf("seed %d: unchoked (besides optimistic) %v, want %v", seed, g, tt.want)
				}
				if tt.opt != nil && len(opts) != 1 {
					t.Fatalf("seed %d: optimistic unchokes %v, want one of %v", seed, opts, tt.opt)
				}
			}
		})
	}
}

// optOf returns the single unchoked peer that is not a regular unchoke.
func optOf(t *testing.T, got map[int]bool, regular ...int) int {
	t.Helper()
	for _, id := range regular {
		if !got[id] {
			t.Fatalf("regular %d not unchoked in %v", id, ids(got))
		}
	}
	if len(got) != len(regular)+1 {
		t.Fatalf("unchoked %v: want regular %v plus one optimistic", ids(got), regular)
	}
	for id := range got {
		if !slices.Contains(regular, id) {
			return id
		}
	}
	panic("unreachable")
}

// apply returns peers with Choked set as the choker decided.
func apply(peers []Peer, got map[int]bool) []Peer {
	out := slices.Clone(peers)
	for i := range out {
		out[i].Choked = !got[out[i].ID]
	}
	return out
}

// swarm is 4 fast peers (1..4) and n slow ones (100..).
func swarm(n int) []Peer {
	peers := []Peer{down(1, 400), down(2, 300), down(3, 200), down(4, 100)}
	for i := range n {
		peers = append(peers, down(100+i, 1))
	}
	return peers
}

func TestOptimisticRotation(t *testing.T) {
	tests := []struct {
		name    string
		slow    int
		noApply bool // the caller does not update Choked, so it cannot tell newcomers apart
	}{
		{"one candidate", 1, false},
		{"two candidates", 2, false},
		{"many candidates", 20, false},
		{"two candidates all unchoked", 2, true},
		{"many candidates all unchoked", 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(50) {
				c := New(seed)
				peers := swarm(tt.slow)
				if tt.noApply {
					for i := range peers {
						peers[i].Choked = false
					}
				}
				now := t0
				var prev int
				for period := range 6 {
					var opt int
					// Rounds at 0, 10 and 20 s into the period keep the
					// optimistic unchoke.
					for round := range 3 {
						got := c.Decide(now, peers, 4, false)
						o := optOf(t, got, 1, 2, 3, 4)
						if o < 100 {
							t.Fatalf("seed %d: optimistic %d is a regular peer", seed, o)
						}
						if round == 0 {
							opt = o
						} else if o != opt {
							t.Fatalf("seed %d period %d round %d: optimistic changed %d -> %d before 30 s", seed, period, round, opt, o)
						}
						if !tt.noApply {
							peers = apply(peers, got)
						}
						now = now.Add(10 * time.Second)
					}
					if period > 0 && tt.slow > 1 && opt == prev {
						t.Fatalf("seed %d period %d: optimistic %d not rotated", seed, period, opt)
					}
					if tt.slow == 1 && opt != 100 {
						t.Fatalf("seed %d: optimistic %d, want the only candidate 100", seed, opt)
					}
					prev = opt
				}
			}
		})
	}
}

func TestOptimisticPrefersChoked(t *testing.T) {
	for seed := range uint64(50) {
		c := New(seed)
		peers := swarm(10)
		// 100..108 are unchoked already (say, by an earlier decision), only
		// 109 is choked: it must be picked first.
		for i := 4; i < 13; i++ {
			peers[i].Choked = false
		}
		got := c.Decide(t0, peers, 4, false)
		if o := optOf(t, got, 1, 2, 3, 4); o != 109 {
			t.Fatalf("seed %d: optimistic %d, want the only choked candidate 109", seed, o)
		}
	}
}

func TestOptimisticFallsBackToUnchoked(t *testing.T) {
	peers := swarm(3)
	for i := range peers {
		peers[i].Choked = false
	}
	got := New(1).Decide(t0, peers, 4, false)
	if o := optOf(t, got, 1, 2, 3, 4); o < 100 || o > 102 {
		t.Fatalf("optimistic %d, want one of 100..102", o)
	}
}

func TestOptimisticReplacedEarly(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Peer)
		remove bool
	}{
		{"disconnects", nil, true},
		{"loses interest", func(p *Peer) { p.Interested = false }, false},
		{"wins a regular slot", func(p *Peer) { p.DownRate = 1000 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(7)
			peers := swarm(5)
			got := c.Decide(t0, peers, 4, false)
			opt := optOf(t, got, 1, 2, 3, 4)
			peers = apply(peers, got)
			i := slices.IndexFunc(peers, func(p Peer) bool { return p.ID == opt })
			if tt.remove {
				peers = slices.Delete(peers, i, i+1)
			} else {
				tt.change(&peers[i])
			}
			got = c.Decide(t0.Add(10*time.Second), peers, 4, false)
			if tt.name == "wins a regular slot" {
				// opt displaces 4, which becomes a candidate.
				o := optOf(t, got, opt, 1, 2, 3)
				if o == opt {
					t.Fatalf("optimistic %d is regular", o)
				}
				return
			}
			o := optOf(t, got, 1, 2, 3, 4)
			if o == opt {
				t.Fatalf("optimistic %d kept after it %s", o, tt.name)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	run := func(seed uint64, reverse bool) []int {
		c := New(seed)
		peers := swarm(20)
		if reverse {
			// The input order must not matter, only the seed.
			slices.Reverse(peers)
		}
		var opts []int
		now := t0
		for range 30 {
			got := c.Decide(now, peers, 4, false)
			opts = append(opts, optOf(t, got, 1, 2, 3, 4))
			peers = apply(peers, got)
			now = now.Add(10 * time.Second)
		}
		return opts
	}
	seen := map[string]bool{}
	for seed := range uint64(10) {
		a, b, r := run(seed, false), run(seed, false), run(seed, true)
		if !slices.Equal(a, b) || !slices.Equal(a, r) {
			t.Fatalf("seed %d: not deterministic:\n%v\n%v\n%v", seed, a, b, r)
		}
		seen[fmt.Sprint(a)] = true
	}
	if len(seen) < 5 {
		t.Fatalf("only %d distinct optimistic sequences over 10 seeds", len(seen))
	}
}

func TestNoOptimisticWhenAllFit(t *testing.T) {
	c := New(3)
	peers := swarm(3) // 7 interested peers
	got := c.Decide(t0, peers, 4, false)
	optOf(t, got, 1, 2, 3, 4)
	// With 8 slots everyone is regular and no optimistic is left over.
	got = c.Decide(t0.Add(10*time.Second), peers, 8, false)
	if g := ids(got); !slices.Equal(g, []int{1, 2, 3, 4, 100, 101, 102}) {
		t.Fatalf("unchoked %v", g)
	}
	// Back to 4 slots: an optimistic unchoke is chosen again at once.
	got = c.Decide(t0.Add(20*time.Second), peers, 4, false)
	optOf(t, got, 1, 2, 3, 4)
}

func TestDoesNotModifyInput(t *testing.T) {
	peers := swarm(10)
	want := slices.Clone(peers)
	New(1).Decide(t0, peers, 4, false)
	if !slices.Equal(peers, want) {
		t.Fatal("Decide modified its input")
	}
}

func BenchmarkDecide50(b *testing.B) {
	peers := make([]Peer, 50)
	for i := range peers {
		peers[i] = Peer{
			ID:         i,
			Interested: i%5 != 0,
			DownRate:   float64((i * 7919) % 1000),
			UpRate:     float64((i * 104729) % 1000),
			Snubbed:    i%11 == 0,
			Choked:     i%3 != 0,
		}
	}
	c := New(1)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		c.Decide(now, peers, 4, false)
		now = now.Add(10 * time.Second)
	}
}

// TestOptimisticIgnoresRates checks that the random choice depends only on the
// seed and the candidates' IDs, not on how they rank among themselves.
func TestOptimisticIgnoresRates(t *testing.T) {
	for seed := range uint64(20) {
		a, b := swarm(10), swarm(10)
		for i := 4; i < len(b); i++ {
			b[i].DownRate = float64(i) // higher ID ranks higher: the reverse of a
		}
		oa := optOf(t, New(seed).Decide(t0, a, 4, false), 1, 2, 3, 4)
		ob := optOf(t, New(seed).Decide(t0, b, 4, false), 1, 2, 3, 4)
		if oa != ob {
			t.Fatalf("seed %d: optimistic %d vs %d with other candidate rates", seed, oa, ob)
		}
	}
}
