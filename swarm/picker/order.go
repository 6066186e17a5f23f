package picker

import "slices"

// The wanted pieces (not None, not verified), best first, live in
// order[lo:hi]; piece.pos is an index into order. Membership is always exact.
// Sortedness is kept by repairing one piece at a time (fix, insert, remove)
// unless dirty is set, in which case the next Pick sorts everything once.
// Insert and remove shift whichever side of the window is shorter: verified
// pieces are usually near the front, so removing them is cheap.

// less reports whether piece a is picked before piece b.
func (p *Picker) less(a, b int) bool {
	pa, pb := &p.pieces[a], &p.pieces[b]
	if pa.prio != pb.prio {
		return pa.prio > pb.prio
	}
	if sa, sb := pa.started(), pb.started(); sa != sb {
		return sa
	}
	if pa.prio == Normal {
		if pa.avail != pb.avail {
			return pa.avail < pb.avail
		}
		if pa.rank != pb.rank {
			return pa.rank < pb.rank
		}
	} else if pa.deadline != pb.deadline {
		return pa.deadline < pb.deadline
	}
	return a < b
}

// fix moves piece pc to its place after its key changed, the rest of the
// order being sorted. A piece whose key only improved moves towards the front,
// which leaves every position after its old one untouched: Pick relies on
// this when a piece it is scanning becomes started.
func (p *Picker) fix(pc int) {
	i := int(p.pieces[pc].pos)
	if p.dirty || i < 0 {
		return
	}
	for i > p.lo && p.less(pc, int(p.order[i-1])) {
		p.put(i, p.order[i-1])
		i--
	}
	for i+1 < p.hi && p.less(int(p.order[i+1]), pc) {
		p.put(i, p.order[i+1])
		i++
	}
	p.put(i, int32(pc))
}

func (p *Picker) put(i int, pc int32) {
	p.order[i] = pc
	p.pieces[pc].pos = int32(i)
}

// renumber refreshes pos for order[from:to].
func (p *Picker) renumber(from, to int) {
	for i := from; i < to; i++ {
		p.pieces[p.order[i]].pos = int32(i)
	}
}

// insert adds a newly wanted piece.
func (p *Picker) insert(pc int) {
	i := p.hi
	if !p.dirty {
		lo, hi := p.lo, p.hi
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if p.less(int(p.order[m]), pc) {
				lo = m + 1
			} else {
				hi = m
			}
		}
		i = lo
	}
	// The window never fills order while a piece is outside it, so one side
	// has room.
	if p.lo > 0 && (p.hi == len(p.order) || i-p.lo < p.hi-i) {
		copy(p.order[p.lo-1:], p.order[p.lo:i])
		p.lo--
		i--
		p.renumber(p.lo, i)
	} else {
		copy(p.order[i+1:], p.order[i:p.hi])
		p.hi++
		p.renumber(i+1, p.hi)
	}
	p.put(i, int32(pc))
}

// remove drops a piece that is no longer wanted.
func (p *Picker) remove(pc int) {
	i := int(p.pieces[pc].pos)
	if i-p.lo < p.hi-1-i {
		copy(p.order[p.lo+1:], p.order[p.lo:i])
		p.lo++
		p.renumber(p.lo, i+1)
	} else {
		copy(p.order[i:], p.order[i+1:p.hi])
		p.hi--
		p.renumber(i, p.hi)
	}
	p.pieces[pc].pos = -1
}

// sortOrder re-sorts the order if it is dirty.
func (p *Picker) sortOrder() {
	if !p.dirty {
		return
	}
	slices.SortFunc(p.order[p.lo:p.hi], func(a, b int32) int {
		switch {
		case a == b:
			return 0
		case p.less(int(a), int(b)):
			return -1
		}
		return 1
	})
	p.renumber(p.lo, p.hi)
	p.dirty = false
}
