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
// claimed by the most peers that have not stalled (the smaller on a tie),
// asking only peers that claimed it. Until a first piece is stored the
// choice follows the peers as they come and go; after that it stays while
// any peer claims that size and the attempt has not stalled. An attempt
// stalls when another size is claimed and every peer claiming its size has
// rejected, or let a request expire for, every missing piece since the
// attempt began: it is abandoned, and its claimants have stalled. Claimants
// that serve nothing more stall it within about missing/(maxOutstanding ×
// claimants) request timeouts, as each is asked for pieces it has not failed
// first. A peer that stalled is not banned, and is still asked when its
// size is chosen, but its claim no longer counts (also after it claims
// another size), until every peer has stalled: then all but those of the
// size just abandoned count again.
//
// Changes of size are bounded, so that peers coming and going with new
// claims cannot keep the fetch flapping: after maxSwitches of them, an
// attempt stays, once a peer was asked, while a peer claims its size and it
// has not stalled, and the next size is that of the peer that has waited
// longest since it was added or last stalled. Peers added later wait behind
// every peer present, so an honest peer's size is chosen after at most one
// abandonment per peer ahead of it, each costing that peer a stall or its
// leaving.
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
// which should end once the info dictionary is in. Of attempts abandoned
// with pieces stored, the first maxSwitches leave their size and
// contributors (a K each), so that those that sent pieces of a size other
// than the verified one are banned with the failures' liars.
type Fetcher[K comparable] struct {
	infoHash [20]byte
	peers    map[K]*peer
	banned   map[K]struct{}
	att      *attempt[K]   // the size being assembled; nil until a peer is asked
	spare    []byte        // the buffer of a failed attempt, reused for the same size
	failed   []failure[K]  // remembered failures, oldest first
	unproven int           // failures that banned nobody
	susp     *suspicion[K] // derived from failed; nil after failed changes
	strays   []stray[K]    // abandoned attempts with pieces stored, at most maxSwitches
	switches int           // changes of size, counted up to maxSwitches
	clock    uint64        // the last peer.turn given
	done     bool
}

// peer is what the Fetcher knows of one peer.
type peer struct {
	size    int       // the metadata_size it claimed
	reqs    []request // requests in flight: at most maxOutstanding
	slots   []slot    // per piece of size; nil until it is first asked
	turn    uint64    // when it was added or last stalled, by Fetcher.clock
	stalled bool      // its claim does not count in the ranking
}

type request struct {
	piece int
	at    time.Time
}

// slot is one peer's state for one piece.
type slot struct {
	asked    uint8     // requests not yet answered, in flight or expired
	rejected bool      // not to be asked again until Expire clears it
	failed   bool      // rejected, or a request expired, since the attempt began
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
// peer was banned. Adding a known peer with a new size replaces its state,
// but for whether it stalled and its turn.
func (f *Fetcher[K]) AddPeer(k K, size int) error {
	if size <= 0 || size > wire.MaxMetadataSize {
		return fmt.Errorf("ut_metadata: metadata_size %d out of range 1..%d", size, wire.MaxMetadataSize)
	}
	if _, ok := f.banned[k]; ok {
		return fmt.Errorf("ut_metadata: peer banned after sending bad metadata")
	}
	switch p := f.peers[k]; {
	case p == nil:
		f.clock++
		f.peers[k] = &peer{size: size, turn: f.clock}
	case p.size != size:
		f.peers[k] = &peer{size: size, turn: p.turn, stalled: p.stalled}
	}
	return nil
}

// RemovePeer forgets k; its requests in flight become available to others.
// Pieces it already delivered stay, unless no peer claims their size any
// more: then their attempt is abandoned (see Fetcher).
func (f *Fetcher[K]) RemovePeer(k K) { delete(f.peers, k) }

// Peers returns the number of peers able to serve: added, not removed or
// banned, whatever size they claimed.
func (f *Fetcher[K]) Peers() int { return len(f.peers) }

// Next returns a piece to request from k now, or false. A peer has at most
// two requests in flight, and a piece is in flight to one peer at a time
// unless every missing piece is in flight and k has none: then k duplicates
// the oldest request it has not rejected. A piece k rejected or let expire
// in this attempt is given again only when no other can be, and that
// request does not keep the piece from others. After a failed attempt, k is
// only given a piece, or a duplicate, if no other peer that could be asked
// for it ranks better (see view). The piece is marked in flight to k at now.
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
				a.busy[r.piece] = a.busy[r.piece] || !q.slots[r.piece].failed
			}
		}
	}
	v := f.view(a)
	piece = -1
	retry := -1 // the first piece k failed, if none other
	allBusy := true
	for i, have := range a.have {
		if have || a.busy[i] {
			continue
		}
		allBusy = false
		s := p.slots[i]
		if s.rejected || s.failed && retry >= 0 || !v.eligible(k, i) {
			continue
		}
		if !s.failed {
			piece = i
			break
		}
		retry = i
	}
	if piece < 0 {
		piece = retry
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
	s.rejected, s.failed, s.at = true, true, p.reqs[i].at
	p.reqs = slices.Delete(p.reqs, i, i+1)
}

// Expire makes requests sent more than timeout before now available again,
// and lets peers be asked again for pieces they rejected more than timeout
// ago. A late answer to an expired request is still accepted by Data. A
// rejected or expired request counts towards a stall (see Fetcher).
func (f *Fetcher[K]) Expire(now time.Time, timeout time.Duration) {
	old := func(t time.Time) bool { return now.Sub(t) > timeout }
	for _, p := range f.peers {
		p.reqs = slices.DeleteFunc(p.reqs, func(r request) bool {
			if old(r.at) {
				p.slots[r.piece].failed = true
				return true
			}
			return false
		})
		for i := range p.slots {
			if s := &p.slots[i]; s.rejected && old(s.at) {
				s.rejected = false
			}
		}
	}
}
