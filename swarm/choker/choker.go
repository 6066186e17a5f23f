// Package choker decides which peers of a torrent we unchoke, following the
// choking algorithm of BEP 3: the best few interested peers by rate get the
// regular slots, one random interested peer gets an optimistic unchoke that
// rotates every 30 seconds, and uninterested peers that are better than the
// worst regular peer stay unchoked so that they are ready when they become
// interested.
//
// The package is pure: it starts no goroutines, reads no clock (the caller
// passes the time in) and draws its randomness from a generator seeded by
// the caller, so a sequence of calls is reproducible. A Choker is not safe
// for concurrent use; it belongs to the torrent's event loop.
package choker

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// DefaultSlots is the number of regular unchoke slots used when Decide is
// called with slots <= 0.
const DefaultSlots = 4

// OptimisticPeriod is how long an optimistic unchoke is kept before another
// peer is chosen.
const OptimisticPeriod = 30 * time.Second

// Peer is the caller's view of one connection at the time of a round.
type Peer struct {
	ID         int     // caller's handle, unique per connection
	Interested bool    // the peer is interested in us
	DownRate   float64 // bytes/s the peer sends us (smoothed by the caller)
	UpRate     float64 // bytes/s we send the peer
	Snubbed    bool    // sent us nothing for a long time although we asked
	Choked     bool    // we currently choke it
}

// Choker remembers the optimistic unchoke between rounds. The zero value is
// not usable; call New.
type Choker struct {
	rng *rand.Rand

	opt     int       // ID of the optimistic unchoke, valid when hasOpt
	hasOpt  bool      // an optimistic unchoke is in effect
	optFrom time.Time // when opt was chosen

	// Scratch space reused across rounds.
	interested []*Peer
	other      []*Peer
	cands      []*Peer
}

// New returns a Choker whose random choices are determined by seed.
func New(seed uint64) *Choker {
	return &Choker{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// rank is the sort key of a peer: peers that are not snubbed (only when
// downloading) come first, then higher rate.
type rank struct {
	snubbed bool
	rate    float64
}

func rankOf(p *Peer, seeding bool) rank {
	r := p.DownRate
	if seeding {
		r = p.UpRate
	}
	if math.IsNaN(r) {
		r = math.Inf(-1)
	}
	return rank{snubbed: !seeding && p.Snubbed, rate: r}
}

// cmpRank orders a before b (negative) when a is the better peer.
func cmpRank(a, b rank) int {
	if a.snubbed != b.snubbed {
		if b.snubbed {
			return -1
		}
		return 1
	}
	return cmp.Compare(b.rate, a.rate)
}

// Decide runs one choking round and returns the IDs of the peers to have
// unchoked after it; every peer not in the map should be choked. The caller
// runs a round every 10 seconds (and may run one early when peers come and
// go); now is the time of the round.
//
// slots is the number of regular unchoke slots (DefaultSlots if <= 0). When
// seeding, peers are ranked by UpRate (our rate to them); otherwise by
// DownRate (their rate to us), snubbed peers last. Ties are broken by lower
// ID first.
//
// The unchoked set is:
//   - the best slots interested peers (the regular unchokes);
//   - one optimistic unchoke: a random interested peer not among them,
//     preferring peers that are choked now. It is kept for OptimisticPeriod,
//     then replaced by another random peer (a different one when there is
//     one). It is replaced at once if it disconnects, loses interest or wins
//     a regular slot;
//   - at most slots uninterested peers whose rank is strictly better than
//     that of the worst regular unchoke (BEP 3's "downloaders" refinement).
//     They do not take regular slots. With no regular unchokes there are
//     none.
//
// Peer IDs must be unique within peers. Decide does not keep or modify peers.
func (c *Choker) Decide(now time.Time, peers []Peer, slots int, seeding bool) map[int]bool {
	if slots <= 0 {
		slots = DefaultSlots
	}
	c.interested = c.interested[:0]
	c.other = c.other[:0]
	for i := range peers {
		if peers[i].Interested {
			c.interested = append(c.interested, &peers[i])
		} else {
			c.other = append(c.other, &peers[i])
		}
	}
	order := func(a, b *Peer) int {
		if r := cmpRank(rankOf(a, seeding), rankOf(b, seeding)); r != 0 {
			return r
		}
		return cmp.Compare(a.ID, b.ID)
	}
	slices.SortFunc(c.interested, order)

	n := min(slots, len(c.interested))
	regular, rest := c.interested[:n], c.interested[n:]
	out := make(map[int]bool, n+1+min(slots, len(c.other)))
	for _, p := range regular {
		out[p.ID] = true
	}

	c.optimistic(now, rest)
	if c.hasOpt {
		out[c.opt] = true
	}

	if n > 0 {
		worst := rankOf(regular[n-1], seeding)
		slices.SortFunc(c.other, order)
		for _, p := range c.other[:min(slots, len(c.other))] {
			if cmpRank(rankOf(p, seeding), worst) >= 0 {
				break
			}
			out[p.ID] = true
		}
	}

	// Do not keep pointers into the caller's slice.
	clear(c.interested[:cap(c.interested)])
	clear(c.other[:cap(c.other)])
	return out
}

// optimistic updates the optimistic unchoke given the interested peers that
// did not get a regular slot.
func (c *Choker) optimistic(now time.Time, rest []*Peer) {
	if c.hasOpt && now.Sub(c.optFrom) < OptimisticPeriod {
		for _, p := range rest {
			if p.ID == c.opt {
				return // still eligible and its time is not up
			}
		}
	}
	// Choose a new one: among the eligible peers other than the previous
	// optimistic unchoke if possible, and among those the choked ones if
	// any.
	c.cands = c.cands[:0]
	for _, p := range rest {
		if !c.hasOpt || p.ID != c.opt {
			c.cands = append(c.cands, p)
		}
	}
	if len(c.cands) == 0 {
		c.cands = append(c.cands, rest...) // only the previous one is left, if any
	}
	choked := 0
	for _, p := range c.cands {
		if p.Choked {
			c.cands[choked] = p
			choked++
		}
	}
	pool := c.cands
	if choked > 0 {
		// The loop above overwrote the unchoked entries; only the first
		// choked entries are meaningful, which is all we need.
		pool = c.cands[:choked]
	}
	if len(pool) == 0 {
		c.hasOpt = false
		clear(c.cands[:cap(c.cands)])
		return
	}
	// rest is ordered by rank, which depends on rates; order the pool by
	// ID so that the choice depends only on the seed and the set of IDs.
	slices.SortFunc(pool, func(a, b *Peer) int { return cmp.Compare(a.ID, b.ID) })
	c.opt = pool[c.rng.IntN(len(pool))].ID
	c.hasOpt = true
	c.optFrom = now
	clear(c.cands[:cap(c.cands)])
}
