package swarm

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/btfs/btfs/swarm/metadata"
	"github.com/btfs/btfs/swarm/pex"
	"github.com/btfs/btfs/swarm/wire"
)

// Extended message ids we assign (BEP 10): peers address our ut_metadata
// and ut_pex handlers with these.
const (
	extMetadata uint8 = 1
	extPex      uint8 = 2
)

const (
	clientVersion = "btfs 0.2"
	// pexEvery is how often a peer hears about our other peers (BEP 11:
	// at most once a minute).
	pexEvery = time.Minute
	// firstPexAfter is when a new peer hears of our other peers first.
	firstPexAfter = 5 * time.Second
	// pexMinGap is the least time between two PEX messages we accept from
	// one peer; faster ones are ignored.
	pexMinGap = 45 * time.Second
	// metadataServeBurst bounds the ut_metadata requests one peer may
	// have answered per pexEvery.
	metadataServeBurst = 256
	// maxKnownPeers bounds the addresses a torrent remembers, whatever
	// trackers, the DHT and PEX send.
	maxKnownPeers = 2000
	// pruneFails is how many failed dials in a row make a known address
	// the first to go when the table is full.
	pruneFails = 2
)

// extState is what the extension protocol knows of one peer; owned by the
// torrent's loop.
type extState struct {
	got        bool   // their extension handshake arrived
	metadata   uint8  // their id for ut_metadata; 0 = none
	pex        uint8  // their id for ut_pex; 0 = none
	listenPort uint16 // their TCP port, from "p"
	client     string
	pexOut     pex.Sender
	lastPexOut time.Time
	lastPexIn  time.Time
	served     int // ut_metadata answers since lastPexOut's window began
}

// private reports whether the torrent is private (BEP 27): no DHT, no
// PEX, no metadata exchange; trackers only.
func (t *Torrent) private() bool { return t.info.Private }

// extHandshake is what we tell a peer in our extension handshake.
func (t *Torrent) extHandshake(p *peer) wire.ExtHandshakeMsg {
	h := wire.ExtHandshakeMsg{
		M:    map[string]uint8{},
		V:    clientVersion,
		P:    t.cl.port,
		Reqq: maxServeQueue,
	}
	if !t.private() {
		h.M["ut_metadata"] = extMetadata
		h.M["ut_pex"] = extPex
		h.MetadataSize = len(t.mi.InfoBytes)
	}
	if a := p.addr.Addr(); a.IsValid() {
		h.YourIP = a.Unmap()
	}
	return h
}

// sendExtHandshake opens the extension protocol with a peer that offers it.
func (t *Torrent) sendExtHandshake(p *peer) {
	b, err := t.extHandshake(p).AppendBinary(nil)
	if err != nil {
		t.log.Warn("extension handshake", "err", err)
		return
	}
	p.send(wire.Message{ID: wire.Extended, ExtID: wire.ExtHandshake, Payload: b})
}

// handleExtended handles a BEP 10 message.
func (t *Torrent) handleExtended(p *peer, m wire.Message) error {
	switch m.ExtID {
	case wire.ExtHandshake:
		h, err := wire.ParseExtHandshake(m.Payload)
		if err != nil {
			return fmt.Errorf("extension handshake: %w", err)
		}
		p.ext.got = true
		p.ext.metadata = h.M["ut_metadata"]
		p.ext.pex = h.M["ut_pex"]
		p.ext.listenPort = h.P
		p.ext.client = h.V
		return nil
	case extMetadata:
		return t.handleMetadataMsg(p, m.Payload)
	case extPex:
		return t.handlePex(p, m.Payload)
	}
	return nil // an extension we did not offer: ignore
}

// handleMetadataMsg answers a peer's ut_metadata request from our info
// dictionary (BEP 9).
func (t *Torrent) handleMetadataMsg(p *peer, payload []byte) error {
	if t.private() {
		return nil // we did not offer it
	}
	msg, err := metadata.ParseMsg(payload)
	if err != nil {
		return fmt.Errorf("ut_metadata: %w", err)
	}
	if msg.Type != metadata.Request || p.ext.metadata == 0 {
		return nil // data we did not ask for, or a peer that cannot hear us
	}
	if p.ext.served++; p.ext.served > metadataServeBurst {
		return nil
	}
	b, err := metadata.Serve(t.mi.InfoBytes, msg).AppendBinary(nil)
	if err != nil {
		return nil
	}
	p.send(wire.Message{ID: wire.Extended, ExtID: p.ext.metadata, Payload: b})
	return nil
}

// handlePex learns peers from a peer's ut_pex message (BEP 11).
func (t *Torrent) handlePex(p *peer, payload []byte) error {
	if t.private() {
		return nil
	}
	now := time.Now()
	if !p.ext.lastPexIn.IsZero() && now.Sub(p.ext.lastPexIn) < pexMinGap {
		return nil // too often: ignore rather than store
	}
	p.ext.lastPexIn = now
	msg, err := pex.ParseMsg(payload)
	if err != nil {
		return fmt.Errorf("ut_pex: %w", err)
	}
	addrs := make([]netip.AddrPort, 0, len(msg.Added))
	for _, a := range msg.Added {
		addrs = append(addrs, a.Addr)
	}
	t.handleAddPeers(addrs)
	return nil
}

// listenAddr is the address a peer accepts connections on, if known.
func (p *peer) listenAddr() (netip.AddrPort, bool) {
	if p.outgoing {
		return p.addr, true
	}
	if p.ext.listenPort != 0 {
		return netip.AddrPortFrom(p.addr.Addr(), p.ext.listenPort), true
	}
	return netip.AddrPort{}, false
}

// sendPex tells every peer that speaks ut_pex which peers we are connected
// to now, at most once per pexEvery each.
func (t *Torrent) sendPex(now time.Time) {
	if t.private() {
		return
	}
	var all []pex.Peer
	for q := range t.peers {
		if a, ok := q.listenAddr(); ok {
			var flags byte
			if q.bf.Full() {
				flags |= 0x02 // seed
			}
			if q.ext.listenPort != 0 || q.outgoing {
				flags |= 0x10 // reachable
			}
			all = append(all, pex.Peer{Addr: a, Flags: flags})
		}
	}
	for p := range t.peers {
		if !p.ext.got {
			continue
		}
		if now.Sub(p.ext.lastPexOut) < pexEvery {
			continue
		}
		p.ext.lastPexOut = now
		p.ext.served = 0
		if p.ext.pex == 0 {
			continue
		}
		self, _ := p.listenAddr()
		cur := make([]pex.Peer, 0, len(all))
		for _, q := range all {
			if q.Addr != self {
				cur = append(cur, q)
			}
		}
		msg, ok := p.ext.pexOut.Next(cur)
		if !ok {
			continue
		}
		b, err := msg.AppendBinary(nil)
		if err != nil {
			continue
		}
		p.send(wire.Message{ID: wire.Extended, ExtID: p.ext.pex, Payload: b})
	}
}
