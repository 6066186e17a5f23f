package metadata

import (
	"fmt"
	"slices"
	"time"

	"github.com/btfs/btfs/swarm/wire"
)

// maxOutstanding bounds the requests in flight to one peer.
const maxOutstanding = 2

// Fetcher assembles an info dictionary from several peers at once. K
// identifies a peer (the engine uses *peer). A Fetcher is not safe for
// concurrent use; the torrent's event loop owns it.
//
// Peers may disagree on metadata_size: a liar can claim any size. The
// Fetcher tracks each peer's claim and assembles one size at a time, the one
// claimed by the most peers (the smaller on a tie), asking only peers that
// claimed it. Until a first piece is stored the choice follows the peers as
// they come and go; after that it stays while any peer claiming that size
// remains.
//
// An attempt that fails verification bans only the peers it proves liars:
// its contributor when it had one, and any contributor that sent other bytes
// for a piece than it sent in an earlier failure (an honest peer always
// sends the same bytes). Otherwise nobody is banned yet: the Fetcher
// remembers, per piece, who sent it and its SHA-1. The next attempt asks
// each piece, where it can, from a peer that did not send it in a
// remembered failure (or whose bytes another peer confirmed), preferring
// peers that disagreed with others less; after soloAfter failures that
// proved nobody, each attempt goes to a single peer, so that its failure is
// proof. Once an attempt verifies, every remembered peer whose piece differs
// from the verified bytes, or that sent pieces of another size, is banned
// and reported with the info dictionary; the others are cleared.
//
// Bounds: at most maxFailed-1 failures are remembered, each a SHA-1 and a K
// per piece; the maxFailed-th failure that proves nobody, like any after it,
// bans all its contributors, proven or not, so that a fetch among liars
// alone still ends. Banned peers are remembered for the Fetcher's life,
// which should end once the info dictionary is in.
type Fetcher[K comparable] struct {
	infoHash [20]byte
	peers    map[K]*peer
	banned   map[K]struct{}
	att      *attempt[K]   // the size being assembled; nil until a peer is asked
	spare    []byte        // the buffer of a failed attempt, reused for the same size
	failed   []failure[K]  // remembered failures, oldest first
	unproven int           // failures that banned nobody
	susp     *suspicion[K] // derived from failed; nil after failed changes
	done     bool
}

// peer is what the Fetcher knows of one peer.
type peer struct {
	size  int       // the metadata_size it claimed
	reqs  []request // requests in flight: at most maxOutstanding
	slots []slot    // per piece of size; nil until it is first asked
}

type request struct {
	piece int
	at    time.Time
}

// slot is one peer's state for one piece.
type slot struct {
	asked    uint8     // requests not yet answered, in flight or expired
	rejected bool      // not to be asked again until Expire clears it
	at       time.Time // when the rejected request was sent
}

// NewFetcher returns a Fetcher for the info dictionary whose SHA-1 is
// infoHash.
func NewFetcher[K comparable](infoHash [20]byte) *Fetcher[K] {
	return &Fetcher[K]{infoHash: infoHash, peers: make(map[K]*peer), banned: make(map[K]struct{})}
}

// AddPeer registers a peer that advertised ut_metadata and metadata_size.
// It returns an error, and ignores the peer, when size is <= 0 or above
// wire.MaxMetadataSize (nothing is allocated for absurd sizes) or when the
// peer was banned. Adding a known peer with a new size replaces its state.
func (f *Fetcher[K]) AddPeer(k K, size int) error {
	if size <= 0 || size > wire.MaxMetadataSize {
		return fmt.Errorf("ut_metadata: metadata_size %d out of range 1..%d", size, wire.MaxMetadataSize)
	}
	if _, ok := f.banned[k]; ok {
		return fmt.Errorf("ut_metadata: peer banned after sending bad metadata")
	}
	if p := f.peers[k]; p == nil || p.size != size {
		f.peers[k] = &peer{size: size}
	}
	return nil
}

// RemovePeer forgets k; its requests in flight become available to others.
// Pieces it already delivered stay.
func (f *Fetcher[K]) RemovePeer(k K) { delete(f.peers, k) }

// Peers returns the number of peers able to serve: added, not removed or
// banned, whatever size they claimed.
func (f *Fetcher[K]) Peers() int { return len(f.peers) }

// Next returns a piece to request from k now, or false. A peer has at most
// two requests in flight, and a piece is in flight to one peer at a time
// unless every missing piece is in flight and k has none: then k duplicates
// the oldest request it has not rejected. After a failed attempt, k is only
// given a piece, or a duplicate, if no other peer that could be asked for
// it ranks better (see view). The piece is marked in flight to k at now.
// Next returns false once the info dictionary is complete, for an unknown
// peer, and for a peer whose size is not the one being assembled.
func (f *Fetcher[K]) Next(k K, now time.Time) (piece int, ok bool) {
	p := f.peers[k]
	if f.done || p == nil || len(p.reqs) >= maxOutstanding {
		return 0, false
	}
	a := f.attempt()
	if a.size != p.size {
		return 0, false
	}
	f.alloc(a)
	if p.slots == nil {
		p.slots = make([]slot, len(a.have))
	}

	clear(a.busy)
	for _, q := range f.peers {
		if q.size == a.size {
			for _, r := range q.reqs {
				a.busy[r.piece] = true
			}
		}
	}
	v := f.view(a)
	piece = -1
	allBusy := true
	for i, have := range a.have {
		if have || a.busy[i] {
			continue
		}
		allBusy = false
		if !p.slots[i].rejected && v.eligible(k, i) {
			piece = i
			break
		}
	}
	if piece < 0 && allBusy && len(p.reqs) == 0 {
		piece = f.oldest(k, a, v)
	}
	if piece < 0 {
		return 0, false
	}
	p.reqs = append(p.reqs, request{piece, now})
	if s := &p.slots[piece]; s.asked < 255 {
		s.asked++
	}
	return piece, true
}

// oldest returns the missing piece of the oldest request in flight for a's
// size that k has not rejected and is eligible for, or -1.
func (f *Fetcher[K]) oldest(k K, a *attempt[K], v *view[K]) int {
	p := f.peers[k]
	piece := -1
	var at time.Time
	for _, q := range f.peers {
		if q.size != a.size {
			continue
		}
		for _, r := range q.reqs {
			if !a.have[r.piece] && !p.slots[r.piece].rejected && (piece < 0 || r.at.Before(at)) && v.eligible(k, r.piece) {
				piece, at = r.piece, r.at
			}
		}
	}
	return piece
}

// Reject records that k refused piece: its request is no longer in flight
// and k is not asked for that piece again until Expire finds the rejected
// request older than its timeout; others get it. A reject for a piece not
// in flight to k is ignored.
func (f *Fetcher[K]) Reject(k K, piece int) {
	p := f.peers[k]
	if p == nil {
		return
	}
	i := slices.IndexFunc(p.reqs, func(r request) bool { return r.piece == piece })
	if i < 0 {
		return
	}
	s := &p.slots[piece]
	s.asked--
	s.rejected, s.at = true, p.reqs[i].at
	p.reqs = slices.Delete(p.reqs, i, i+1)
}

// Expire makes requests sent more than timeout before now available again,
// and lets peers be asked again for pieces they rejected more than timeout
// ago. A late answer to an expired request is still accepted by Data.
func (f *Fetcher[K]) Expire(now time.Time, timeout time.Duration) {
	old := func(t time.Time) bool { return now.Sub(t) > timeout }
	for _, p := range f.peers {
		p.reqs = slices.DeleteFunc(p.reqs, func(r request) bool { return old(r.at) })
		for i := range p.slots {
			if s := &p.slots[i]; s.rejected && old(s.at) {
				s.rejected = false
			}
		}
	}
}
