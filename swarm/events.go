package swarm

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"

	"github.com/btfs/btfs/swarm/bitfield"
	"github.com/btfs/btfs/swarm/hasher"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/picker"
	"github.com/btfs/btfs/swarm/wire"
)

var (
	errWrongHash = errors.New("handshake: wrong info-hash")
	errReplaced  = errors.New("replaced by a newcomer: torrent full")
)

// maxStrikes is how many failed pieces a peer may have contributed to
// before it is banned even without proof (judge usually proves it first).
const maxStrikes = 8

func (t *Torrent) handleEvent(ev peerEvent) {
	p := ev.p
	if _, ok := t.peers[p]; !ok {
		t.blocks.Put(ev.msg)
		return
	}
	if ev.err != nil {
		t.dropPeer(p, ev.err)
		return
	}
	if err := t.handleMessage(p, ev.msg); err != nil {
		t.log.Info("dropping peer", "peer", p.addr, "err", err)
		t.dropPeer(p, err)
	}
}

func (t *Torrent) handleMessage(p *peer, m wire.Message) error {
	switch m.ID {
	case wire.Choke:
		p.peerChoking = true
		// Requests die with a choke, except (Fast extension) those for
		// allowed-fast pieces, which the peer still serves or rejects.
		for ref := range p.inflight {
			if !p.fast || !p.allowed[ref.piece] {
				delete(p.inflight, ref)
				t.release(ref)
			}
		}
		t.fillAll()
	case wire.Unchoke:
		p.peerChoking = false
		t.fillRequests(p)
	case wire.Interested:
		p.peerInterested = true
		// A free upload slot (the regular ones plus the optimistic one)
		// goes to a newcomer at once rather than at the next round.
		if p.amChoking && t.unchokedInterested() < uploadSlots+1 {
			t.unchoke(p)
		}
	case wire.NotInterested:
		p.peerInterested = false
	case wire.Have:
		if int(m.Index) >= t.layout.NumPieces {
			return fmt.Errorf("have: piece %d out of range", m.Index)
		}
		if !p.bf.Has(int(m.Index)) {
			p.bf.Set(int(m.Index))
			t.pk.PeerHas(int(m.Index))
			if p.allowed[int(m.Index)] {
				p.allowedBF.Set(int(m.Index))
			}
		}
		if !p.amInterested && !t.pieces.verified.Has(int(m.Index)) {
			t.updateInterest(p)
		}
		t.fillRequests(p)
	case wire.Bitfield:
		bf, err := bitfield.FromBytes(m.Payload, t.layout.NumPieces)
		if err != nil {
			return err
		}
		t.pk.PeerGone(&p.bf)
		p.bf = bf
		t.pk.PeerBitfield(&p.bf)
		p.allowedBF = t.allowedBitfield(p)
		t.updateInterest(p)
		t.fillRequests(p)
	case wire.Request:
		t.handleRequest(p, m)
	case wire.Cancel:
		p.pc.Cancel(m.Index, m.Begin, m.Length)
	case wire.Piece:
		return t.handleBlock(p, m)
	case wire.Extended:
		return t.handleExtended(p, m)
	case wire.Port:
		if d := t.dhtNode(); d != nil && m.Port != 0 {
			d.AddNode(netip.AddrPortFrom(p.addr.Addr(), m.Port))
		}
	case wire.HaveAll, wire.HaveNone, wire.Reject, wire.AllowedFast, wire.Suggest:
		if !p.fast {
			return fmt.Errorf("%v message without the Fast extension", m.ID)
		}
		return t.handleFast(p, m)
	}
	return nil
}

// handleFast handles the Fast extension's messages (BEP 6).
func (t *Torrent) handleFast(p *peer, m wire.Message) error {
	switch m.ID {
	case wire.HaveAll:
		t.pk.PeerGone(&p.bf)
		p.bf.SetAll()
		t.pk.PeerBitfield(&p.bf)
		p.allowedBF = t.allowedBitfield(p)
		t.updateInterest(p)
		t.fillRequests(p)
	case wire.HaveNone:
	case wire.Reject:
		if !t.layout.ValidBlock(m.Index, m.Begin, m.Length) {
			return fmt.Errorf("reject: bad block %d/%d+%d", m.Index, m.Begin, m.Length)
		}
		ref := blockRef{piece: int(m.Index), block: int(m.Begin / metainfo.BlockSize)}
		if _, ok := p.inflight[ref]; ok {
			delete(p.inflight, ref)
			t.release(ref)
			t.fillAll()
		}
	case wire.AllowedFast:
		if int(m.Index) >= t.layout.NumPieces {
			return fmt.Errorf("allowed fast: piece %d out of range", m.Index)
		}
		p.allowed[int(m.Index)] = true
		if p.bf.Has(int(m.Index)) {
			p.allowedBF.Set(int(m.Index))
		}
		t.fillRequests(p)
	case wire.Suggest:
		if int(m.Index) >= t.layout.NumPieces {
			return fmt.Errorf("suggest: piece %d out of range", m.Index)
		}
		// Suggestions are advisory; our readers decide what is urgent.
	}
	return nil
}

// updateInterest tells a peer whether it has something we lack.
func (t *Torrent) updateInterest(p *peer) {
	want := false
	if !t.opts.Seed && !t.pieces.verified.Full() {
		for i := range t.layout.NumPieces {
			if p.bf.Has(i) && !t.pieces.verified.Has(i) {
				want = true
				break
			}
		}
	}
	if want != p.amInterested {
		p.amInterested = want
		id := wire.NotInterested
		if want {
			id = wire.Interested
		}
		p.send(wire.Message{ID: id})
	}
}

// handleRequest queues a block for a peer when we may and can serve it.
func (t *Torrent) handleRequest(p *peer, m wire.Message) {
	ok := (!p.amChoking || p.fast && p.ourAllowed[int(m.Index)]) && t.layout.ValidBlock(m.Index, m.Begin, m.Length) &&
		t.pieces.verified.Has(int(m.Index)) && p.pc.Queued() < maxServeQueue
	if !ok {
		if p.fast {
			p.send(wire.Message{ID: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
		}
		return
	}
	p.pc.Serve(m)
}

// handleBlock stores a block we asked for.
func (t *Torrent) handleBlock(p *peer, m wire.Message) error {
	defer t.blocks.Put(m)
	piece := int(m.Index)
	if !t.layout.ValidBlock(m.Index, m.Begin, uint32(len(m.Payload))) || m.Begin%metainfo.BlockSize != 0 {
		return fmt.Errorf("piece message: bad block %d/%d+%d", m.Index, m.Begin, len(m.Payload))
	}
	ref := blockRef{piece: piece, block: int(m.Begin / metainfo.BlockSize)}
	if _, asked := p.inflight[ref]; !asked {
		t.wastedLate.Add(int64(len(m.Payload))) // unsolicited, cancelled or timed out
		return nil
	}
	delete(p.inflight, ref)
	if len(m.Payload) != t.layout.BlockSize(piece, ref.block) {
		t.release(ref)
		return fmt.Errorf("piece message: block %d/%d has %d bytes", piece, ref.block, len(m.Payload))
	}
	p.snubbed = false
	p.downloaded += int64(len(m.Payload))
	b := picker.Block{Piece: piece, Index: ref.block}
	pd := t.pieces.dl[piece]
	if !t.pk.Received(b) || pd == nil || t.pieces.get(piece) != stDownloading {
		t.wastedDup.Add(int64(len(m.Payload))) // another peer's copy came first
	} else {
		copy(pd.buf[int(m.Begin):], m.Payload)
		pd.from[ref.block] = p
		if t.pk.Outstanding(b) > 0 {
			t.cancelDuplicates(p, ref)
		}
		// Received reports a block only once per attempt, so this is true
		// exactly once: when the block completing the piece lands.
		if t.pk.PieceReceived(piece) {
			t.setState(piece, stHashing)
			t.hashQ = append(t.hashQ, hasher.Job{Piece: piece, Data: pd.buf, Want: t.info.Pieces[piece]})
		}
	}
	t.fillRequests(p)
	return nil
}

// cancelDuplicates withdraws a block's other outstanding requests.
func (t *Torrent) cancelDuplicates(got *peer, ref blockRef) {
	for q := range t.peers {
		if q == got {
			continue
		}
		if _, ok := q.inflight[ref]; ok {
			delete(q.inflight, ref)
			t.release(ref)
			begin := uint32(ref.block * metainfo.BlockSize)
			q.send(wire.Message{ID: wire.Cancel, Index: uint32(ref.piece), Begin: begin, Length: uint32(t.layout.BlockSize(ref.piece, ref.block))})
		}
	}
}

// handleVerdict stores a verified piece, or punishes its senders.
func (t *Torrent) handleVerdict(r hasher.Result) {
	pd := t.pieces.dl[r.Piece]
	if pd == nil || t.pieces.get(r.Piece) != stHashing {
		return
	}
	if !r.OK {
		t.setState(r.Piece, stDownloading) // same buffer, fetched again
		t.punish(r.Piece, pd)
		return
	}
	t.setState(r.Piece, stStoring)
	if pd.prev != nil {
		t.judge(r.Piece, pd, r.Data)
	}
	size := int64(len(r.Data))
	t.pk.Verified(r.Piece)
	t.downloaded.Add(size)
	b := t.pieces.data[r.Piece] // the table's reference, moved from pd
	for _, w := range t.waiters[r.Piece] {
		w.ch <- b.Ref() // each reader drops its own once it copied
	}
	delete(t.waiters, r.Piece)
	t.prioDirty = true
	// Storage writes (files, later the disk cache) happen off the loop;
	// the piece counts as ours once they are done (handleStored).
	t.storeQ = append(t.storeQ, storeJob{piece: r.Piece, b: b.Ref()})
	t.fillAll()
}

// handleStored finishes a verified piece once storage has it: it is
// announced to peers and served from now on.
func (t *Torrent) handleStored(r storeResult) {
	if t.pieces.get(r.piece) != stStoring {
		return
	}
	if r.err != nil || !t.storage.Has(r.piece) {
		// Not held (a write error, or too big for the cache, or evicted
		// at once): fetch it again if it is wanted.
		if r.err != nil {
			t.log.Warn("store piece", "piece", r.piece, "err", r.err)
		}
		t.setState(r.piece, stMissing)
		t.pk.Missing(r.piece)
		t.prioDirty = true
		t.fillAll()
		return
	}
	t.setState(r.piece, stHeld)
	t.fillAll()
}

// punish handles a piece that failed its hash check. Every peer that sent
// part of it gets a strike; one that sent all of it is banned. The failed
// bytes are kept so that, once the piece verifies, the blocks that differ
// name the guilty senders exactly (see judge).
func (t *Torrent) punish(piece int, pd *pieceDL) {
	senders := map[*peer]int{}
	for _, p := range pd.from {
		if p != nil {
			senders[p]++
		}
	}
	t.log.Warn("piece failed hash check", "piece", piece, "senders", len(senders))
	t.wastedFailed.Add(int64(len(pd.buf)))
	if pd.prev == nil {
		pd.prev = append([]byte(nil), pd.buf...)
		pd.prevFrom = append([]*peer(nil), pd.from...)
	}
	for p := range senders {
		p.strikes++
		if len(senders) == 1 || p.strikes >= maxStrikes {
			t.ban(p, fmt.Errorf("piece %d: hash mismatch", piece))
		}
	}
	clear(pd.from)
	t.pk.Failed(piece)
	t.fillAll()
}

// judge compares a piece that finally verified with the bytes of its failed
// attempt and bans each peer whose block differed.
func (t *Torrent) judge(piece int, pd *pieceDL, good []byte) {
	for b, p := range pd.prevFrom {
		if p == nil || t.bannedIDs[p.id] {
			continue
		}
		lo := b * metainfo.BlockSize
		hi := lo + t.layout.BlockSize(piece, b)
		if !bytes.Equal(pd.prev[lo:hi], good[lo:hi]) {
			t.ban(p, fmt.Errorf("piece %d block %d: sent bad data", piece, b))
		}
	}
}

// ban drops a peer and refuses it for the rest of the session.
func (t *Torrent) ban(p *peer, why error) {
	t.bannedIDs[p.id] = true
	if k := t.known[p.addr]; k != nil {
		k.banned = true
	}
	t.log.Warn("banning peer", "peer", p.addr, "err", why)
	t.dropPeer(p, why)
}
