package metadata

import (
	"crypto/sha1"
	"fmt"
	"slices"

	"github.com/btfs/btfs/swarm/bencode"
)

// attempt assembles the info dictionary for one claimed size.
type attempt[K comparable] struct {
	size int
	buf  []byte // the pieces; nil until the first request
	have []bool // per piece: stored in buf
	from []K    // per piece: who sent it, when have
	got  int    // pieces stored
	busy []bool // scratch for Next: pieces in flight
}

// Result is what Data reports.
type Result[K comparable] struct {
	Done bool   // the info dictionary is complete and verified
	Info []byte // when Done: the info dictionary, owned by the caller
	Bad  []K    // peers proven to have sent wrong data, now banned; each is reported once
}

// attempt returns the attempt to work on. It abandons the current one if no
// peer claims its size any more or it stalled; it keeps it if a piece is
// stored, or once maxSwitches changes of size were made and a peer was
// asked; otherwise it chooses a size (see choose). It is only called with at
// least one peer.
func (f *Fetcher[K]) attempt() *attempt[K] {
	prev, avoid := f.att, 0
	if a := prev; a != nil {
		switch {
		case !f.claimed(a.size):
			f.abandon(false)
		case f.stalled(a):
			f.abandon(true)
			avoid = a.size
		case a.got > 0 || f.switches >= maxSwitches && a.have != nil:
			return a
		}
	}
	size := f.choose(avoid)
	if a := f.att; a != nil && a.size == size {
		return a
	}
	if prev != nil && f.switches < maxSwitches {
		f.switches++
	}
	f.drop()
	f.att = &attempt[K]{size: size}
	for _, p := range f.peers {
		if p.size == size {
			for i := range p.slots {
				p.slots[i].failed = false
			}
		}
	}
	return f.att
}

// claimed reports whether a peer claims size.
func (f *Fetcher[K]) claimed(size int) bool {
	for _, p := range f.peers {
		if p.size == size {
			return true
		}
	}
	return false
}

// alloc gives a its buffers if it has none yet.
func (f *Fetcher[K]) alloc(a *attempt[K]) {
	if a.buf != nil {
		return
	}
	if len(f.spare) == a.size {
		a.buf = f.spare
	} else {
		a.buf = make([]byte, a.size)
	}
	f.spare = nil
	n := numPieces(a.size)
	a.have, a.from, a.busy = make([]bool, n), make([]K, n), make([]bool, n)
}

// drop abandons the current attempt, keeping its buffer for reuse.
func (f *Fetcher[K]) drop() {
	if f.att != nil && f.att.buf != nil {
		f.spare = f.att.buf
	}
	f.att = nil
}

// Data stores piece m from k. A message that is not Data, a piece k was not
// asked for, a total_size other than k's metadata_size, or a wrong length
// for that piece is an error for k (the caller drops k) and is not stored.
// Data for a piece already stored, or for a size not being assembled, is
// ignored. When every piece is in, the bytes are checked to be one bencoded
// dictionary whose SHA-1 is the info-hash. On success Result.Info holds
// them and Result.Bad the peers whose pieces in earlier failed attempts
// differ from them. On failure Result.Bad lists the peers the failure
// proves liars (see Fetcher), often none, and a new attempt starts. Every
// peer in Result.Bad is banned.
func (f *Fetcher[K]) Data(k K, m Msg) (Result[K], error) {
	p := f.peers[k]
	switch {
	case p == nil:
		return Result[K]{}, fmt.Errorf("ut_metadata: piece %d: from a peer not added", m.Piece)
	case m.Type != Data:
		return Result[K]{}, fmt.Errorf("ut_metadata: piece %d: %v message, want data", m.Piece, m.Type)
	case m.Piece < 0 || m.Piece >= len(p.slots) || p.slots[m.Piece].asked == 0:
		return Result[K]{}, fmt.Errorf("ut_metadata: piece %d: not requested", m.Piece)
	}
	p.slots[m.Piece].asked--
	if i := slices.IndexFunc(p.reqs, func(r request) bool { return r.piece == m.Piece }); i >= 0 {
		p.reqs = slices.Delete(p.reqs, i, i+1)
	}
	if m.TotalSize != p.size {
		return Result[K]{}, fmt.Errorf("ut_metadata: piece %d: total_size %d, but the peer's metadata_size is %d", m.Piece, m.TotalSize, p.size)
	}
	if want := pieceLen(p.size, m.Piece); len(m.Data) != want {
		return Result[K]{}, fmt.Errorf("ut_metadata: piece %d: %d bytes, want %d", m.Piece, len(m.Data), want)
	}
	a := f.att
	if f.done || a == nil || a.size != p.size {
		return Result[K]{}, nil
	}
	f.alloc(a)
	if a.have[m.Piece] {
		return Result[K]{}, nil
	}
	copy(a.buf[m.Piece*PieceSize:], m.Data)
	a.have[m.Piece], a.from[m.Piece] = true, k
	if a.got++; a.got < len(a.have) {
		return Result[K]{}, nil
	}
	return f.finish(), nil
}

// finish verifies the complete current attempt.
func (f *Fetcher[K]) finish() Result[K] {
	a := f.att
	if v, err := bencode.Decode(a.buf); err == nil && v.Kind() == bencode.Dict && sha1.Sum(a.buf) == f.infoHash {
		f.done, f.att, f.spare = true, nil, nil
		return Result[K]{Done: true, Info: a.buf, Bad: f.convict(a.buf)}
	}
	bad := f.blame(a)
	f.drop()
	return Result[K]{Bad: bad}
}
