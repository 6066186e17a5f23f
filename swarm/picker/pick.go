package picker

import "github.com/btfs/btfs/swarm/bitfield"

// Pick appends to out up to max blocks to request from a peer whose pieces
// are has, marks each returned block as requested (outstanding++), and
// returns out. mine(b) reports whether this peer already has b in flight;
// such a block is never returned. mine may be nil.
//
// Blocks are chosen by piece priority (Now, Next, Readahead, Normal; never
// None), then started pieces first, then by deadline (streaming priorities)
// or rarest first with seeded random ties (Normal), and within a piece by
// lowest block index that is neither received nor outstanding.
//
// Duplicates (a second request for a block outstanding elsewhere) are
// returned, most urgent first, in two cases (see SetDuplicates): for a Now
// piece whose every block is requested, right after the fresh Now blocks;
// and in endgame, when the normal pass found fewer than max blocks and left
// no unrequested block in any wanted piece this peer has.
func (p *Picker) Pick(has *bitfield.Bitfield, mine func(Block) bool, max int, out []Block) []Block {
	return p.PickLimit(has, mine, max, -1, nil, out)
}

// PickLimit is Pick that starts at most fresh new pieces (fresh < 0: no
// limit). A piece is new unless inProgress reports it is not (nil: unless
// a block of it is requested or received). Pieces of priority Now are
// exempt: a blocked read always gets its piece started. It lets a caller
// bound the buffers of pieces in progress.
func (p *Picker) PickLimit(has *bitfield.Bitfield, mine func(Block) bool, max, fresh int, inProgress func(piece int) bool, out []Block) []Block {
	if max <= 0 {
		return out
	}
	p.fresh, p.inProgress = fresh, inProgress
	defer func() { p.inProgress = nil }()
	p.sortOrder()
	p.calls++
	if p.calls == 0 { // wrapped: forget old calls so none looks current
		clear(p.call)
		p.calls = 1
	}
	limit := len(out) + max
	nowEnd := p.lo
	for nowEnd < p.hi && p.pieces[p.order[nowEnd]].prio == Now {
		nowEnd++
	}
	out, skipNow := p.pickFresh(p.lo, nowEnd, has, mine, limit, out)
	if p.dupNow {
		out = p.pickDup(p.lo, nowEnd, has, mine, limit, out)
	}
	out, skip := p.pickFresh(nowEnd, p.hi, has, mine, limit, out)
	if p.dupEnd && len(out) < limit && !skipNow && !skip {
		lo := nowEnd
		if !p.dupNow {
			lo = p.lo // endgame covers Now pieces too
		}
		out = p.pickDup(lo, p.hi, has, mine, limit, out)
	}
	return out
}

// pickFresh takes unrequested blocks from order[lo:hi]. skipped reports a
// free block left only because mine claimed it.
func (p *Picker) pickFresh(lo, hi int, has *bitfield.Bitfield, mine func(Block) bool, limit int, out []Block) (_ []Block, skipped bool) {
	for i := lo; i < hi && len(out) < limit; i++ {
		pc := int(p.order[i])
		ps := &p.pieces[pc]
		if ps.free == 0 || !has.Has(pc) {
			continue
		}
		isNew := ps.prio != Now && p.fresh >= 0
		if isNew && p.inProgress != nil {
			isNew = !p.inProgress(pc)
		} else if isNew {
			isNew = !ps.started()
		}
		if isNew && p.fresh == 0 {
			continue
		}
		took := len(out)
		// Taking the first block may make the piece started and move it
		// towards the front; order[i+1:] stays as it was.
		first := int32(-1)
		j := ps.hint
		for ; j < ps.n && ps.free > 0 && len(out) < limit; j++ {
			k := ps.off + int(j)
			if p.rcv[k] || p.out[k] != 0 {
				continue
			}
			b := Block{pc, int(j)}
			if mine != nil && mine(b) {
				skipped = true
				if first < 0 {
					first = j
				}
				continue
			}
			p.setBlock(pc, int(j), false, 1)
			p.call[k] = p.calls
			out = append(out, b)
		}
		if first < 0 {
			first = j
		}
		ps.hint = first
		if isNew && len(out) > took && p.fresh > 0 {
			p.fresh--
		}
	}
	return out, skipped
}

// pickDup takes second requests for blocks with exactly one request from the
// pieces of order[lo:hi] that have no unrequested block.
func (p *Picker) pickDup(lo, hi int, has *bitfield.Bitfield, mine func(Block) bool, limit int, out []Block) []Block {
	for i := lo; i < hi && len(out) < limit; i++ {
		pc := int(p.order[i])
		ps := &p.pieces[pc]
		if ps.single == 0 || ps.free != 0 || !has.Has(pc) {
			continue
		}
		for j := 0; j < int(ps.n) && ps.single > 0 && len(out) < limit; j++ {
			k := ps.off + j
			if p.rcv[k] || p.out[k] != 1 || p.call[k] == p.calls {
				continue // mine() cannot know what this call returned
			}
			b := Block{pc, j}
			if mine != nil && mine(b) {
				continue
			}
			p.setBlock(pc, j, false, 2)
			p.call[k] = p.calls
			out = append(out, b)
		}
	}
	return out
}
