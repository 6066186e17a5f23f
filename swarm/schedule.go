package swarm

import (
	"slices"
	"sync"
	"time"

	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/wire"
)

func timeNow() time.Time { return time.Now() }

// maxDuplicates bounds how many peers may be asked for the same block of
// an urgent piece at once.
const maxDuplicates = 2

// candidates returns the pieces worth fetching, most urgent first: pieces
// readers are blocked on, then each reader's readahead window in order.
func (t *Torrent) candidates() []int {
	if !t.candsDirty {
		return t.cands
	}
	t.candsDirty = false
	t.cands = t.cands[:0]
	seen := map[int]bool{}
	urgent := make([]int, 0, len(t.waiters))
	for i := range t.waiters {
		urgent = append(urgent, i)
	}
	slices.Sort(urgent)
	for _, i := range urgent {
		seen[i] = true
		t.cands = append(t.cands, i)
	}
	ids := make([]int, 0, len(t.windows))
	for id := range t.windows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// Interleave readers' windows so each reader's nearest pieces come first.
	for depth := 0; ; depth++ {
		more := false
		for _, id := range ids {
			w := t.windows[id]
			i := w[0] + depth
			if i >= w[1] {
				continue
			}
			more = true
			if !seen[i] && !t.verified.Has(i) {
				seen[i] = true
				t.cands = append(t.cands, i)
			}
		}
		if !more {
			break
		}
	}
	return t.cands
}

// fillAll tops up every peer's request pipeline.
func (t *Torrent) fillAll() {
	for p := range t.peers {
		t.fillRequests(p)
	}
}

// fillRequests sends a peer requests until its pipeline is full.
func (t *Torrent) fillRequests(p *peer) {
	if t.opts.Seed || p.peerChoking && len(p.allowed) == 0 {
		return
	}
	for len(p.inflight) < p.maxInflight {
		ref, ok := t.pick(p)
		if !ok {
			return
		}
		p.inflight[ref] = timeNow()
		t.pending[ref.piece].reqs[ref.block]++
		begin := uint32(ref.block * metainfo.BlockSize)
		p.send(wire.Message{ID: wire.Request, Index: uint32(ref.piece), Begin: begin, Length: uint32(t.layout.BlockSize(ref.piece, ref.block))})
	}
}

// pick chooses the next block to ask p for.
func (t *Torrent) pick(p *peer) (blockRef, bool) {
	cands := t.candidates()
	for _, i := range cands {
		if t.verified.Has(i) || !p.bf.Has(i) || p.peerChoking && !p.allowed[i] {
			continue
		}
		pd := t.pendingPiece(i)
		if pd.hashing {
			continue
		}
		for b := pd.nextFree; b < len(pd.got); b++ {
			if !pd.got[b] && pd.reqs[b] == 0 {
				pd.nextFree = b + 1
				return blockRef{i, b}, true
			}
		}
		pd.nextFree = len(pd.got)
	}
	// Nothing free: for pieces a reader is blocked on, ask a second peer
	// for blocks still outstanding elsewhere, so one slow peer cannot hold
	// a read hostage.
	for _, i := range cands {
		if _, urgent := t.waiters[i]; !urgent {
			break // urgent pieces come first in cands
		}
		pd := t.pending[i]
		if pd == nil || pd.hashing || !p.bf.Has(i) || p.peerChoking && !p.allowed[i] {
			continue
		}
		for b := range pd.got {
			if !pd.got[b] && pd.reqs[b] < maxDuplicates {
				if _, mine := p.inflight[blockRef{i, b}]; !mine {
					return blockRef{i, b}, true
				}
			}
		}
	}
	return blockRef{}, false
}

func (t *Torrent) pendingPiece(i int) *pieceDL {
	pd := t.pending[i]
	if pd == nil {
		n := t.layout.NumBlocks(i)
		pd = &pieceDL{
			buf:  make([]byte, t.layout.PieceSize(i)),
			reqs: make([]uint8, n),
			got:  make([]bool, n),
			from: make([]*peer, n),
		}
		t.pending[i] = pd
	}
	return pd
}

// expireRequests gives blocks a peer has sat on too long to other peers,
// and shrinks that peer's pipeline.
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
	if expired {
		p.maxInflight = max(2, p.maxInflight/2)
		t.log.Debug("requests timed out", "peer", p.addr, "pipeline", p.maxInflight)
		t.fillAll()
	} else if len(p.inflight) > 0 && p.maxInflight < 128 && now.Sub(p.lastBlock) < time.Second {
		p.maxInflight++ // a peer that keeps up earns a deeper pipeline
	}
}

// blockPool recycles 16 KiB buffers for block payloads between reader
// goroutines and the loop.
type blockPool struct{ p sync.Pool }

func (bp *blockPool) copyOf(b []byte) []byte {
	if len(b) != metainfo.BlockSize {
		return append([]byte(nil), b...)
	}
	buf, _ := bp.p.Get().(*[]byte)
	if buf == nil {
		s := make([]byte, metainfo.BlockSize)
		buf = &s
	}
	copy(*buf, b)
	return (*buf)[:len(b)]
}

func (bp *blockPool) put(m wire.Message) {
	if m.ID == wire.Piece && cap(m.Payload) == metainfo.BlockSize {
		b := m.Payload[:metainfo.BlockSize]
		bp.p.Put(&b)
	}
}
