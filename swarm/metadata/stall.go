package metadata

import "slices"

// maxSwitches bounds the changes of size made by the ranking, and the
// abandoned attempts remembered for blame (see Fetcher).
const maxSwitches = 8

// stray is what an attempt abandoned with pieces stored leaves behind.
type stray[K comparable] struct {
	size int
	from []K // who sent its pieces, each once
}

// stalled reports whether a stalled: another size is claimed, and every
// peer claiming a's size has rejected, or let a request expire for, every
// missing piece since a began.
func (f *Fetcher[K]) stalled(a *attempt[K]) bool {
	if a.have == nil || !f.claimedOther(a.size) {
		return false
	}
	for _, p := range f.peers {
		if p.size != a.size {
			continue
		}
		if p.slots == nil {
			return false
		}
		for i, have := range a.have {
			if !have && !p.slots[i].failed {
				return false
			}
		}
	}
	return true
}

// claimedOther reports whether a peer claims a size other than size.
func (f *Fetcher[K]) claimedOther(size int) bool {
	for _, p := range f.peers {
		if p.size != size {
			return true
		}
	}
	return false
}

// abandon drops the current attempt. If it stalled, its claimants have
// stalled and wait their next turn. If pieces were stored, who sent them is
// remembered for blame, for the first maxSwitches such attempts.
func (f *Fetcher[K]) abandon(stall bool) {
	a := f.att
	if stall {
		f.clock++
		for _, p := range f.peers {
			if p.size == a.size {
				p.stalled, p.turn = true, f.clock
			}
		}
	}
	if a.got > 0 && len(f.strays) < maxSwitches {
		r := stray[K]{size: a.size}
		for i, have := range a.have {
			if have && !slices.Contains(r.from, a.from[i]) {
				r.from = append(r.from, a.from[i])
			}
		}
		f.strays = append(f.strays, r)
	}
	f.drop()
}

// choose returns the size to assemble next. Until maxSwitches changes of
// size, it is the size claimed by the most peers that have not stalled, the
// smaller on a tie; if every peer stalled, all but the claimants of avoid,
// the size just abandoned, count again. After that, it is the size of the
// peer with the earliest turn. It is only called with at least one peer.
func (f *Fetcher[K]) choose(avoid int) int {
	if f.switches >= maxSwitches {
		var first *peer
		for _, p := range f.peers {
			if first == nil || p.turn < first.turn || p.turn == first.turn && p.size < first.size {
				first = p
			}
		}
		return first.size
	}
	best := f.popular()
	if best == 0 {
		for _, p := range f.peers {
			p.stalled = p.stalled && p.size == avoid
		}
		best = f.popular()
	}
	return best
}

// popular returns the size claimed by the most peers that have not stalled,
// the smaller on a tie, or 0 if every peer stalled.
func (f *Fetcher[K]) popular() int {
	counts := make(map[int]int)
	best := 0
	for _, p := range f.peers {
		if p.stalled {
			continue
		}
		counts[p.size]++
		if n, b := counts[p.size], counts[best]; n > b || n == b && p.size < best {
			best = p.size
		}
	}
	return best
}
