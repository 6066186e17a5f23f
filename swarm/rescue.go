package swarm

import (
	"time"

	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/picker"
)

const (
	// rescueEvery is how often blocks under blocked reads are checked for
	// lateness.
	rescueEvery = 200 * time.Millisecond
	// lateSlack is added to a request's expected delivery time before it
	// counts as late.
	lateSlack = 300 * time.Millisecond
	// lateUnknown is when a request to a peer whose rate is not known yet
	// counts as late.
	lateUnknown = time.Second
)

// lateAfter is how long a request to p may be outstanding before it counts
// as late: twice the time p needs, at its measured rate, to send what we
// have asked of it, plus some slack; never past the request timeout.
func (t *Torrent) lateAfter(p *peer) time.Duration {
	if p.rate < metainfo.BlockSize {
		return min(lateUnknown, t.cl.cfg.RequestTimeout)
	}
	queued := float64(len(p.inflight) * metainfo.BlockSize)
	expected := time.Duration(queued / p.rate * float64(time.Second))
	return min(2*expected+lateSlack, t.cl.cfg.RequestTimeout)
}

// rescueLate asks a second peer for blocks that a read is blocked on when
// their request is late against the first peer's measured rate. This is
// the only duplicate request outside true endgame, so streaming costs the
// swarm no bandwidth beyond what buys time.
func (t *Torrent) rescueLate(now time.Time) {
	if len(t.waiters) == 0 {
		return
	}
	for p := range t.peers {
		if len(p.inflight) == 0 {
			continue
		}
		late := t.lateAfter(p)
		for ref, at := range p.inflight {
			if _, blocked := t.waiters[ref.piece]; !blocked || now.Sub(at) < late {
				continue
			}
			b := picker.Block{Piece: ref.piece, Index: ref.block}
			if t.pk.Outstanding(b) != 1 {
				continue // already rescued, or received
			}
			q := t.rescuer(p, ref)
			if q == nil || !t.pk.Duplicate(b) {
				continue
			}
			t.request(q, ref)
			t.dupReqs.Add(1)
		}
	}
}

// rescuer is the fastest peer other than slow that can serve ref now and
// has room for one more request.
func (t *Torrent) rescuer(slow *peer, ref blockRef) *peer {
	var best *peer
	for q := range t.peers {
		if q == slow || q.snubbed || len(q.inflight) >= q.maxInflight+urgentExtra {
			continue
		}
		if _, dup := q.inflight[ref]; dup {
			continue
		}
		if !t.pickable(q).Has(ref.piece) {
			continue // it lacks the piece, chokes us, or the piece is on parole with another
		}
		if best == nil || q.rate > best.rate {
			best = q
		}
	}
	return best
}
