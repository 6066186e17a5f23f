package swarm

import (
	"time"

	"github.com/btfs/btfs/swarm/bitfield"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/picker"
	"github.com/btfs/btfs/swarm/wire"
)

const (
	// nextPieces is how many pieces after a reader's position are Next
	// rather than Readahead.
	nextPieces = 2
	// Pipeline bounds per peer, in blocks.
	minPipeline = 8
	maxPipeline = 512
	// pipelineSeconds of data at a peer's measured rate stay in flight.
	pipelineSeconds = 1.0
	// defaultBacklog bounds the bytes of downloaded pieces waiting for
	// the hasher or for storage; past it no new blocks are requested.
	defaultBacklog = 64 << 20
	// urgentExtra is how many requests past a full pipeline a peer may
	// get for pieces a read is blocked on.
	urgentExtra = 16
)

// prioDeadline is a piece's wanted priority and its order key.
type prioDeadline struct {
	pr picker.Priority
	d  int64
}

// updatePriorities recomputes piece priorities from blocked reads and
// readers' windows, if they changed.
func (t *Torrent) updatePriorities() {
	if !t.prioDirty {
		return
	}
	t.prioDirty = false
	if t.prioWant == nil {
		t.prioWant = map[int]prioDeadline{}
	}
	want := t.prioWant
	clear(want)
	set := func(i int, pr picker.Priority, d int64) {
		if old, ok := want[i]; !ok || pr > old.pr || pr == old.pr && d < old.d {
			want[i] = prioDeadline{pr, d}
		}
	}
	for _, w := range t.windows {
		for i := w[0]; i < w[1]; i++ {
			pr := picker.Readahead
			if i-w[0] < nextPieces {
				pr = picker.Next
			}
			set(i, pr, int64(i-w[0]))
		}
	}
	for _, rs := range t.hints {
		for _, w := range rs {
			for i := w[0]; i < w[1]; i++ {
				set(i, picker.Readahead, int64(i-w[0]))
			}
		}
	}
	for i := range t.waiters {
		set(i, picker.Now, 0)
	}
	dropped := false
	for _, i := range t.prioSet {
		if _, ok := want[i]; !ok {
			t.pk.SetPriority(i, t.basePrio, 0)
			dropped = dropped || t.basePrio == picker.None && !t.pieces.verified.Has(i)
		}
	}
	if dropped {
		t.cancelUnwanted()
	}
	t.prioSet = t.prioSet[:0]
	for i, pd := range want {
		t.pk.SetPriority(i, pd.pr, pd.d)
		t.prioSet = append(t.prioSet, i)
	}
}

// cancelUnwanted withdraws requests for pieces nobody wants any more (a
// reader seeked away or closed), so peers' queues hold what is wanted now,
// and gives back the buffers of those pieces' partial downloads.
func (t *Torrent) cancelUnwanted() {
	for p := range t.peers {
		for ref := range p.inflight {
			if t.pk.Priority(ref.piece) == picker.None {
				delete(p.inflight, ref)
				t.release(ref)
				p.send(wire.Message{ID: wire.Cancel, Index: uint32(ref.piece), Begin: uint32(ref.block * metainfo.BlockSize), Length: uint32(t.layout.BlockSize(ref.piece, ref.block))})
			}
		}
	}
	for i, pd := range t.pieces.dl {
		if t.pk.Priority(i) != picker.None || t.pieces.get(i) != stDownloading {
			continue // wanted, or complete and with the hasher
		}
		for b, from := range pd.from {
			if from != nil {
				t.wastedDiscarded.Add(int64(t.layout.BlockSize(i, b)))
			}
		}
		t.setState(i, stMissing) // its buffer goes, its reservation with it
		t.pk.Failed(i)           // its received blocks are missing again
	}
}

// fillAll tops up every peer's request pipeline.
func (t *Torrent) fillAll() {
	for p := range t.peers {
		t.fillRequests(p)
	}
}

// fillRequests sends a peer requests until its pipeline is full.
func (t *Torrent) fillRequests(p *peer) {
	if t.opts.Seed || p.peerChoking && p.allowedBF.Count() == 0 {
		return
	}
	n := p.maxInflight - len(p.inflight)
	if n <= 0 {
		if len(t.waiters) > 0 && len(p.inflight) < p.maxInflight+urgentExtra {
			t.fillUrgent(p)
		}
		return
	}
	t.updatePriorities()
	has := t.pickable(p)
	// The backlog bounds the buffers of pieces downloading, hashing and
	// storing: new pieces start only while it has room (pieces a read is
	// blocked on always may); started ones finish.
	fresh := max(0, int((t.opts.Backlog-t.pieces.inflight)/t.layout.PieceLength))
	t.pickBuf = t.pk.PickLimit(has, p.mine, n, fresh, t.inProgress, t.pickBuf[:0])
	for _, b := range t.pickBuf {
		t.request(p, blockRef{piece: b.Piece, block: b.Index})
	}
}

// fillUrgent lets a peer whose pipeline is full take a few more requests,
// for pieces a read is blocked on only.
func (t *Torrent) fillUrgent(p *peer) {
	t.updatePriorities()
	has := t.pickable(p)
	t.pickBuf = t.pk.Pick(has, p.mine, p.maxInflight+urgentExtra-len(p.inflight), t.pickBuf[:0])
	for _, b := range t.pickBuf {
		if t.pk.Priority(b.Piece) != picker.Now {
			t.pk.Cancelled(b) // not urgent: give it back
			continue
		}
		t.request(p, blockRef{piece: b.Piece, block: b.Index})
	}
}

// pickable returns the pieces p may be asked for: those it has (while it
// chokes us, those it allows), less parole pieces reserved for others.
func (t *Torrent) pickable(p *peer) *bitfield.Bitfield {
	has := p.sendable()
	first := true
	for i, pd := range t.pieces.parole {
		if !has.Has(i) || t.mayFetch(p, i, pd) {
			continue
		}
		if first {
			t.hasScratch.CopyFrom(has)
			has, first = &t.hasScratch, false
		}
		has.Clear(i)
	}
	return has
}

// request sends one block request and records it.
func (t *Torrent) request(p *peer, ref blockRef) {
	if pd := t.pendingPiece(ref.piece); pd.suspects != nil && pd.owner == nil {
		pd.owner = p // the next attempt comes from p alone
	}
	p.inflight[ref] = time.Now()
	p.requested++
	begin := uint32(ref.block * metainfo.BlockSize)
	p.send(wire.Message{ID: wire.Request, Index: uint32(ref.piece), Begin: begin, Length: uint32(t.layout.BlockSize(ref.piece, ref.block))})
}

// pendingPiece returns piece i's download, starting it (missing →
// downloading, its buffer charged to the budget) on its first request.
func (t *Torrent) pendingPiece(i int) *pieceDL {
	pd := t.pieces.dl[i]
	if pd == nil {
		// A recycled buffer holds an old piece's bytes: every block
		// overwrites its range before the piece is hashed or read.
		b := t.alloc(t.layout.PieceSize(i))
		pd = &pieceDL{b: b, buf: b.Bytes(), from: make([]*peer, t.layout.NumBlocks(i))}
		t.setState(i, stDownloading)
		t.pieces.dl[i] = pd
	}
	return pd
}

// expireRequests gives blocks a peer has sat on too long to other peers
// and marks the peer snubbed; it also sizes the peer's pipeline to about a
// second of data at its measured rate.
func (t *Torrent) expireRequests(p *peer, now time.Time) {
	expired := false
	for ref, at := range p.inflight {
		if now.Sub(at) < t.cl.cfg.RequestTimeout {
			continue
		}
		delete(p.inflight, ref)
		t.release(ref)
		expired = true
		begin := uint32(ref.block * metainfo.BlockSize)
		p.send(wire.Message{ID: wire.Cancel, Index: uint32(ref.piece), Begin: begin, Length: uint32(t.layout.BlockSize(ref.piece, ref.block))})
	}
	got := p.downloaded - p.lastDownloaded
	p.lastDownloaded = p.downloaded
	p.rate = 0.5*p.rate + 0.5*float64(got) // bytes per tick (one second)
	up := p.pc.Uploaded()
	if got > 0 || up > p.lastUploaded {
		p.lastUseful = now // a block either way this tick
	}
	p.upRate = 0.5*p.upRate + 0.5*float64(up-p.lastUploaded)
	p.lastUploaded = up
	switch {
	case expired:
		p.snubbed = true
		p.maxInflight = 2
		t.log.Debug("requests timed out; peer snubbed", "peer", p.addr)
		t.fillAll()
	case !p.snubbed:
		p.maxInflight = min(max(int(p.rate*pipelineSeconds/metainfo.BlockSize)+minPipeline, p.maxInflight), maxPipeline)
		if got == 0 && len(p.inflight) == 0 {
			p.maxInflight = max(minPipeline, p.maxInflight/2) // idle: forget old speed slowly
		}
	}
}

// release marks one outstanding request as gone.
func (t *Torrent) release(ref blockRef) {
	t.pk.Cancelled(picker.Block{Piece: ref.piece, Index: ref.block})
}

// allowedBitfield turns a peer's allowed-fast set into a bitfield limited
// to the pieces it has.
func (t *Torrent) allowedBitfield(p *peer) bitfield.Bitfield {
	bf := bitfield.New(t.layout.NumPieces)
	for i := range p.allowed {
		if p.bf.Has(i) {
			bf.Set(i)
		}
	}
	return bf
}
