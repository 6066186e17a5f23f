package picker

import "fmt"

// block returns the index of b in p.rcv and p.out. It panics when b is out of
// range, rather than silently naming a block of the next piece.
func (p *Picker) block(b Block) int {
	ps := &p.pieces[b.Piece]
	if b.Index < 0 || b.Index >= int(ps.n) {
		panic(fmt.Sprintf("picker: block %d of piece %d out of range [0, %d)", b.Index, b.Piece, ps.n))
	}
	return ps.off + b.Index
}

// count adds d to the counter of the class a block in state (rcv, out) is in.
func (ps *piece) count(rcv bool, out uint8, d int32) {
	switch {
	case rcv:
		ps.recv += d
	case out == 0:
		ps.free += d
	case out == 1:
		ps.single += d
	}
}

// setBlock changes block j of piece pc, keeping the piece's counters, its
// free-block hint and its place in the order.
func (p *Picker) setBlock(pc, j int, rcv bool, out uint8) {
	ps := &p.pieces[pc]
	i := ps.off + j
	was := ps.started()
	ps.count(p.rcv[i], p.out[i], -1)
	p.rcv[i], p.out[i] = rcv, out
	ps.count(rcv, out, 1)
	if !rcv && out == 0 && int32(j) < ps.hint {
		ps.hint = int32(j)
	}
	if ps.started() != was {
		p.fix(pc)
	}
}

// Cancelled records that one outstanding request for b ended without data
// (timeout, choke, reject, peer gone).
func (p *Picker) Cancelled(b Block) {
	i := p.block(b)
	if p.out[i] > 0 {
		p.setBlock(b.Piece, b.Index, p.rcv[i], p.out[i]-1)
	}
}

// Received records that data for b arrived and drops one outstanding request
// for it. first is false if b was already received (a duplicate in endgame,
// or a block of a verified piece).
func (p *Picker) Received(b Block) (first bool) {
	i := p.block(b)
	out := p.out[i]
	if out > 0 {
		out--
	}
	first = !p.rcv[i]
	p.setBlock(b.Piece, b.Index, true, out)
	return first
}

// Outstanding returns the number of outstanding requests for b.
func (p *Picker) Outstanding(b Block) int { return int(p.out[p.block(b)]) }

// PieceReceived reports whether every block of piece is received (ready to
// hash). It is true for a verified piece.
func (p *Picker) PieceReceived(piece int) bool {
	ps := &p.pieces[piece]
	return ps.recv == ps.n
}

// Have reports whether piece is verified.
func (p *Picker) Have(piece int) bool { return p.pieces[piece].have }

// Verified records that piece passed its hash: it is done and never picked
// again. All its blocks count as received.
func (p *Picker) Verified(piece int) {
	ps := &p.pieces[piece]
	if ps.have {
		return
	}
	if ps.wanted() {
		p.remove(piece)
	}
	ps.have = true
	p.setAll(piece, true)
}

// Failed records that piece failed its hash: all its blocks become missing
// again. Outstanding counts stay as they are. It does nothing to a verified
// piece.
func (p *Picker) Failed(piece int) {
	if !p.pieces[piece].have {
		p.setAll(piece, false)
	}
}

// Missing records that a verified piece was evicted from the cache: it
// becomes missing again with all blocks unreceived. It does nothing to a piece
// that is not verified.
func (p *Picker) Missing(piece int) {
	ps := &p.pieces[piece]
	if !ps.have {
		return
	}
	ps.have = false
	p.setAll(piece, false)
	if ps.wanted() {
		p.insert(piece)
	}
}

// setAll marks every block of piece received or not, keeping outstanding
// counts.
func (p *Picker) setAll(piece int, rcv bool) {
	ps := &p.pieces[piece]
	for j := range int(ps.n) {
		p.setBlock(piece, j, rcv, p.out[ps.off+j])
	}
}
