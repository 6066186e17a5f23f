// Package picker decides which blocks of a torrent to request next, and from
// whom. It is pure bookkeeping owned by one goroutine (the torrent's event
// loop): no goroutines, no locks, no clock, no I/O, and deterministic given
// its seed.
//
// Pieces are ranked by priority (Now, Next, Readahead, Normal; None is never
// requested), then pieces already started come first, then by deadline for the
// streaming priorities or rarest first for Normal. The ranking is kept in a
// cached order that is repaired incrementally when a key changes, so Pick
// usually looks at only a few pieces.
package picker

import (
	"fmt"
	"strconv"

	"github.com/btfs/btfs/swarm/bitfield"
)

// Priority says how urgently a piece is wanted.
type Priority int8

// Priorities, least urgent first.
const (
	None      Priority = iota // never requested
	Normal                    // background fill
	Readahead                 // inside a reader's readahead window
	Next                      // the pieces right after a blocked read
	Now                       // a read is blocked on it
)

// String returns the lower-case name of the priority.
func (p Priority) String() string {
	switch p {
	case None:
		return "none"
	case Normal:
		return "normal"
	case Readahead:
		return "readahead"
	case Next:
		return "next"
	case Now:
		return "now"
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

// Block names one block: Index is the block number within the piece.
type Block struct{ Piece, Index int }

// piece is the state of one piece. Counters cover its blocks, each of which is
// in exactly one of: received, free (not received, no request), single (not
// received, one request) or doubled (not received, two requests).
type piece struct {
	off      int    // index of block 0 in Picker.rcv and Picker.out
	deadline int64  // order key for the streaming priorities
	rank     uint64 // seeded random tie-break for Normal
	n        int32  // blocks in the piece
	free     int32  // blocks neither received nor outstanding
	single   int32  // blocks not received with exactly one request
	recv     int32  // blocks received
	hint     int32  // no free block has a lower index
	avail    int32  // peers that have the piece
	pos      int32  // index in Picker.order, -1 when not wanted
	prio     Priority
	have     bool // verified
}

func (ps *piece) started() bool { return ps.free < ps.n }
func (ps *piece) wanted() bool  { return ps.prio != None && !ps.have }

// Picker tracks piece priorities, availability and block requests, and picks
// blocks to request. The zero value is not usable; call New.
type Picker struct {
	pieces []piece
	rcv    []bool   // per block: received
	out    []uint8  // per block: outstanding requests (at most 2 from Pick)
	call   []uint32 // per block: the Pick call that last returned it
	calls  uint32   // Pick calls so far (mod 2^32)
	order  []int32  // order[lo:hi]: wanted pieces, best first (unsorted while dirty)
	lo, hi int      // the live window of order; piece.pos indexes order
	dirty  bool     // order must be re-sorted before use
	dupNow bool     // Pick duplicates blocks of fully requested Now pieces
	dupEnd bool     // Pick duplicates in endgame
	// For the PickLimit call in progress: new pieces it may still start
	// (< 0: any number), and the caller's view of pieces in progress.
	fresh      int
	inProgress func(piece int) bool
}

// New makes a picker for numPieces pieces; blocksIn(i) gives the number of
// blocks of piece i (>= 1). All pieces start at priority None, missing, with
// zero availability. seed drives random tie-breaks.
func New(numPieces int, blocksIn func(piece int) int, seed uint64) *Picker {
	p := &Picker{
		pieces: make([]piece, numPieces),
		order:  make([]int32, numPieces),
		lo:     numPieces / 2,
		hi:     numPieces / 2,
		dupNow: true,
		dupEnd: true,
	}
	total := 0
	for i := range p.pieces {
		n := blocksIn(i)
		if n < 1 {
			panic(fmt.Sprintf("picker: piece %d has %d blocks", i, n))
		}
		p.pieces[i] = piece{off: total, n: int32(n), free: int32(n), pos: -1, rank: splitmix(&seed)}
		total += n
	}
	p.rcv = make([]bool, total)
	p.out = make([]uint8, total)
	p.call = make([]uint32, total)
	return p
}

// splitmix64 step: a tiny, well-mixed generator for the tie-break ranks.
func splitmix(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// SetDuplicates says when Pick may return a second request for a block
// outstanding elsewhere: now, for a Now piece whose every block is
// requested; endgame, in endgame (see Pick). Both are on after New. A caller
// that duplicates Now blocks itself, only when the first request is late,
// turns now off and uses Duplicate.
func (p *Picker) SetDuplicates(now, endgame bool) { p.dupNow, p.dupEnd = now, endgame }

// Duplicate records a second request for b, which has exactly one
// outstanding request and is not received; it reports false (and records
// nothing) otherwise.
func (p *Picker) Duplicate(b Block) bool {
	i := p.block(b)
	if p.rcv[i] || p.out[i] != 1 || p.pieces[b.Piece].have {
		return false
	}
	p.setBlock(b.Piece, b.Index, false, 2)
	return true
}

// SetPriority sets a piece's priority. deadline orders pieces within the
// streaming priorities (Readahead, Next, Now): lower first. For Normal and
// None, deadline is ignored.
func (p *Picker) SetPriority(piece int, pr Priority, deadline int64) {
	if pr < None || pr > Now {
		panic("picker: bad priority " + pr.String())
	}
	ps := &p.pieces[piece]
	if pr < Readahead {
		deadline = 0
	}
	if ps.prio == pr && ps.deadline == deadline {
		return
	}
	was := ps.wanted()
	ps.prio, ps.deadline = pr, deadline
	switch now := ps.wanted(); {
	case was && !now:
		p.remove(piece)
	case !was && now:
		p.insert(piece)
	case now:
		p.fix(piece)
	}
}

// Priority returns a piece's priority.
func (p *Picker) Priority(piece int) Priority { return p.pieces[piece].prio }

// Wanted returns the number of pieces that are not None and not verified.
func (p *Picker) Wanted() int { return p.hi - p.lo }

// PeerHas records that one peer announced piece.
func (p *Picker) PeerHas(piece int) {
	ps := &p.pieces[piece]
	ps.avail++
	if ps.prio == Normal {
		p.fix(piece)
	}
}

// PeerBitfield records a peer's whole bitfield (for have-all, pass a full one).
func (p *Picker) PeerBitfield(bf *bitfield.Bitfield) { p.addBitfield(bf, 1) }

// PeerGone forgets the pieces of a disconnected peer whose bitfield is bf.
func (p *Picker) PeerGone(bf *bitfield.Bitfield) { p.addBitfield(bf, -1) }

func (p *Picker) addBitfield(bf *bitfield.Bitfield, d int32) {
	if bf.Count() == 0 {
		return
	}
	n := min(bf.Len(), len(p.pieces))
	for i := range n {
		if !bf.Has(i) {
			continue
		}
		ps := &p.pieces[i]
		ps.avail = max(ps.avail+d, 0)
		if ps.prio == Normal && ps.pos >= 0 {
			p.dirty = true // many keys changed: one sort beats many repairs
		}
	}
}

// Availability returns how many connected peers have piece.
func (p *Picker) Availability(piece int) int { return int(p.pieces[piece].avail) }

// Interesting reports whether a peer with bitfield has holds any piece that is
// missing, not None, and not fully received.
func (p *Picker) Interesting(has *bitfield.Bitfield) bool {
	for _, pc := range p.order[p.lo:p.hi] {
		ps := &p.pieces[pc]
		if ps.recv < ps.n && has.Has(int(pc)) {
			return true
		}
	}
	return false
}

// InEndgame reports whether, ignoring peers, every wanted missing block is
// received or outstanding. It is true when nothing is wanted.
func (p *Picker) InEndgame() bool {
	for _, pc := range p.order[p.lo:p.hi] {
		if p.pieces[pc].free > 0 {
			return false
		}
	}
	return true
}
