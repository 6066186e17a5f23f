package swarm

import (
	"time"

	"github.com/btfs/btfs/swarm/choker"
	"github.com/btfs/btfs/swarm/wire"
)

const (
	// chokeEvery is BEP 3's re-choke period; the optimistic unchoke
	// rotates every third round inside the choker.
	chokeEvery = 10 * time.Second
	// uploadSlots is how many interested peers are unchoked for their rate.
	uploadSlots = 4
)

// rechoke runs one round of the choking algorithm.
func (t *Torrent) rechoke(now time.Time) {
	t.chokeIn = t.chokeIn[:0]
	byID := make(map[int]*peer, len(t.peers))
	for p := range t.peers {
		byID[p.cid] = p
		t.chokeIn = append(t.chokeIn, choker.Peer{
			ID: p.cid, Interested: p.peerInterested, DownRate: p.rate, UpRate: p.upRate,
			Snubbed: p.snubbed, Choked: p.amChoking,
		})
	}
	keep := t.choker.Decide(now, t.chokeIn, uploadSlots, t.opts.Seed || t.pieces.verified.Full())
	for id, p := range byID {
		if keep[id] {
			t.unchoke(p)
		} else {
			t.choke(p)
		}
	}
}

// unchokedInterested counts interested peers we currently serve.
func (t *Torrent) unchokedInterested() int {
	n := 0
	for p := range t.peers {
		if !p.amChoking && p.peerInterested {
			n++
		}
	}
	return n
}

func (t *Torrent) unchoke(p *peer) {
	if p.amChoking {
		p.amChoking = false
		p.refused = 0
		p.send(wire.Message{ID: wire.Unchoke})
	}
}

// choke stops serving a peer: its queued requests are dropped (and, with
// the Fast extension, rejected so it can ask elsewhere at once).
func (t *Torrent) choke(p *peer) {
	if p.amChoking {
		return
	}
	p.amChoking = true
	dropped := p.pc.DropServes(func(m wire.Message) bool { return p.fast && p.ourAllowed[int(m.Index)] })
	p.send(wire.Message{ID: wire.Choke})
	if p.fast {
		for _, m := range dropped {
			p.send(wire.Message{ID: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
		}
	}
}
