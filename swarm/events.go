package swarm

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/btfs/btfs/swarm/bitfield"
	"github.com/btfs/btfs/swarm/hasher"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/peerconn"
	"github.com/btfs/btfs/swarm/picker"
	"github.com/btfs/btfs/swarm/wire"
)

var (
	errWrongHash = errors.New("handshake: wrong info-hash")
	errReplaced  = errors.New("replaced by a newcomer: torrent full")
	// errAbuse ends a connection whose peer sends what no honest client
	// does: more blocks than we asked for, haves it already sent, request
	// after request while choked.
	errAbuse = errors.New("peer abuse")
	// errUseless ends a connection on which nothing useful passed for
	// uselessAfter: neither side wants anything of the other.
	errUseless = errors.New("no use either way for too long")
)

const (
	// maxRefused bounds the requests a peer may send after we choked it
	// or beyond its queue; more than any client's pipeline.
	maxRefused = 4096
	// redundantSlack is how many haves beyond one per piece a peer may send.
	redundantSlack = 64
	// uselessAfter is how long a connection may carry nothing useful.
	uselessAfter = 5 * time.Minute
)

func (t *Torrent) handleEvent(ev peerEvent) {
	p := ev.p
	if _, ok := t.peers[p]; !ok {
		t.blocks.Put(ev.msg)
		return
	}
	if ev.err != nil {
		if errors.Is(ev.err, peerconn.ErrFlood) || errors.Is(ev.err, peerconn.ErrOutboxFull) {
			t.log.Info("dropping peer", "peer", p.addr, "err", ev.err)
		}
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
		p.lastUseful = time.Now()
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
		if p.bf.Has(int(m.Index)) {
			if p.redundant++; p.redundant > t.layout.NumPieces+redundantSlack {
				return fmt.Errorf("%w: %d haves for pieces it had announced", errAbuse, p.redundant)
			}
		} else {
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
		return t.handleRequest(p, m)
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
// Refused ones are rejected (Fast extension) or ignored. A peer that goes
// on asking while choked, thousands of requests after the choke, is
// abusing us; requests refused for other reasons (a piece the cache let
// go since we announced it, a full queue) are an honest peer's lot.
func (t *Torrent) handleRequest(p *peer, m wire.Message) error {
	mayAsk := !p.amChoking || p.fast && p.ourAllowed[int(m.Index)]
	ok := mayAsk && t.layout.ValidBlock(m.Index, m.Begin, m.Length) &&
		t.pieces.verified.Has(int(m.Index)) && p.pc.Queued() < maxServeQueue
	if !ok {
		if !mayAsk {
			if p.refused++; p.refused > maxRefused {
				return fmt.Errorf("%w: %d requests while choked", errAbuse, p.refused)
			}
		}
		if p.fast {
			p.send(wire.Message{ID: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
		}
		return nil
	}
	p.pc.Serve(m)
	return nil
}

// handleBlock stores a block we asked for.
func (t *Torrent) handleBlock(p *peer, m wire.Message) error {
	defer t.blocks.Put(m)
	piece := int(m.Index)
	if !t.layout.ValidBlock(m.Index, m.Begin, uint32(len(m.Payload))) || m.Begin%metainfo.BlockSize != 0 {
		return fmt.Errorf("piece message: bad block %d/%d+%d", m.Index, m.Begin, len(m.Payload))
	}
	// Every piece message answers one request of ours (late ones too:
	// cancelled, timed out, choked away), so more than we sent is abuse.
	if p.answered++; p.answered > p.requested {
		return fmt.Errorf("%w: %d blocks sent, %d requested", errAbuse, p.answered, p.requested)
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
	if pd.evidence != nil {
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

// maxEvidence bounds the failed attempts a block's evidence remembers.
const maxEvidence = 8

// punish handles a piece that failed its hash check. Blame is per block:
// when every block came from one address, that address is banned; when
// several sent parts, nobody is punished yet. The piece goes on parole:
// each block's digest and sender are kept, the next attempt is fetched
// from a single peer, preferably one that sent none of the failed
// attempt, and when the piece verifies judge bans exactly the senders of
// blocks that differed. An honest co-sender is never banned.
func (t *Torrent) punish(piece int, pd *pieceDL) {
	if pd.evidence == nil {
		pd.evidence = make([][]blockEvidence, len(pd.from))
		pd.suspects = map[netip.Addr]bool{}
		t.pieces.parole[piece] = pd
	}
	var first *peer // the sender of the first block, guilty if it sent all
	mixed := false
	for b, p := range pd.from {
		if p == nil {
			continue
		}
		if first == nil {
			first = p
		}
		mixed = mixed || p.addr.Addr() != first.addr.Addr()
		pd.suspects[p.addr.Addr()] = true
		if len(pd.evidence[b]) < maxEvidence {
			lo := b * metainfo.BlockSize
			sum := sha1.Sum(pd.buf[lo : lo+t.layout.BlockSize(piece, b)])
			pd.evidence[b] = append(pd.evidence[b], blockEvidence{sum: sum, from: p})
		}
	}
	t.log.Warn("piece failed hash check", "piece", piece, "mixed_senders", mixed)
	t.wastedFailed.Add(int64(len(pd.buf)))
	clear(pd.from)
	pd.owner = nil
	t.pk.Failed(piece)
	if first != nil && !mixed {
		t.ban(first, fmt.Errorf("piece %d: hash mismatch, every block from this address", piece))
	}
	t.fillAll()
}

// judge compares a piece that finally verified with the evidence of its
// failed attempts and bans each sender of a block that differed.
func (t *Torrent) judge(piece int, pd *pieceDL, good []byte) {
	for b, ev := range pd.evidence {
		lo := b * metainfo.BlockSize
		want := sha1.Sum(good[lo : lo+t.layout.BlockSize(piece, b)])
		for _, e := range ev {
			if e.sum != want {
				t.ban(e.from, fmt.Errorf("piece %d block %d: sent bad data", piece, b))
			}
		}
	}
}

// mayFetch reports whether p may be asked for blocks of piece i, which is
// on parole: only its owner while the owner can still send, and not a
// suspect while a peer that sent none of the failed attempt can.
func (t *Torrent) mayFetch(p *peer, i int, pd *pieceDL) bool {
	if o := pd.owner; o != nil && o != p {
		if _, ok := t.peers[o]; ok && t.canSend(o, i) {
			return false
		}
		pd.owner = nil // gone, choking or snubbed: the parole passes on
	}
	if pd.owner == p || !pd.suspects[p.addr.Addr()] {
		return true
	}
	for q := range t.peers {
		if q != p && !pd.suspects[q.addr.Addr()] && t.canSend(q, i) {
			return false
		}
	}
	return true
}

// canSend reports whether q has piece i and may send it to us now.
func (t *Torrent) canSend(q *peer, i int) bool {
	return !q.snubbed && q.sendable().Has(i)
}

// ban drops a peer proven to send bad data and refuses its address, not
// its peer id (anyone can claim an honest peer's id), for the rest of the
// session, in every torrent.
func (t *Torrent) ban(p *peer, why error) {
	t.cl.banAddr(p.addr, why, t)
}

// dropAddr drops every connection from a banned address. (Its known
// addresses stay; connectMore asks the guard before dialling.)
func (t *Torrent) dropAddr(a netip.Addr, why error) {
	for p := range t.peers {
		if p.addr.Addr() == a {
			t.dropPeer(p, why)
		}
	}
}
