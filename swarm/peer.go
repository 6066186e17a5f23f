package swarm

import (
	"net"
	"net/netip"
	"time"

	"github.com/btfs/btfs/swarm/bitfield"
	"github.com/btfs/btfs/swarm/peerconn"
	"github.com/btfs/btfs/swarm/picker"
	"github.com/btfs/btfs/swarm/wire"
)

const (
	handshakeTimeout = 10 * time.Second
	dialTimeout      = 5 * time.Second
	readIdleTimeout  = peerconn.DefaultReadIdle
	writeTimeout     = peerconn.DefaultWriteTimeout
	maxServeQueue    = 256 // requests a peer may have queued with us
)

// blockRef names one block we asked a peer for.
type blockRef struct {
	piece, block int
}

// peer is one connection: its transport (peerconn) and what the torrent's
// event loop knows of it. Fields above the loop-owned marker are fixed at
// creation; the rest belongs to the event loop alone.
type peer struct {
	pc       *peerconn.Conn
	addr     netip.AddrPort
	id       [20]byte
	outgoing bool
	fast     bool
	way      way // transport and encryption of the connection

	// --- loop-owned ---
	bf             bitfield.Bitfield
	peerChoking    bool
	peerInterested bool
	amChoking      bool
	amInterested   bool
	inflight       map[blockRef]time.Time
	allowed        map[int]bool      // pieces the peer lets us request while choked (BEP 6)
	allowedBF      bitfield.Bitfield // allowed ∩ what the peer has
	mine           func(picker.Block) bool
	rate           float64 // bytes per second the peer sends us (smoothed)
	lastDownloaded int64
	snubbed        bool
	since          time.Time // connected at
	cid            int       // connection id for the choker
	upRate         float64   // bytes per second we send the peer (smoothed)
	lastUploaded   int64
	ourAllowed     map[int]bool // pieces we let the peer request while choked
	maxInflight    int
	downloaded     int64
	// Abuse accounting: what a peer may send is bounded by what we did.
	requested  int64     // block requests we sent it
	answered   int64     // piece messages it sent us
	redundant  int       // haves for pieces it already announced
	refused    int       // its requests while choked, since we last unchoked it
	lastUseful time.Time // last tick with a block either way, or interest shown
	ext        extState
}

func newPeer(t *Torrent, conn net.Conn, hs wire.Handshake, outgoing bool) *peer {
	ap, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	p := &peer{
		addr: ap, id: hs.PeerID, outgoing: outgoing, fast: hs.Fast(),
		bf:          bitfield.New(t.layout.NumPieces),
		peerChoking: true, amChoking: true, since: time.Now(), lastUseful: time.Now(),
		inflight:    map[blockRef]time.Time{},
		allowed:     map[int]bool{},
		ourAllowed:  map[int]bool{},
		maxInflight: minPipeline * 2,
		allowedBF:   bitfield.New(t.layout.NumPieces),
	}
	p.pc = peerconn.New(t.ctx, conn, peerconn.Config{
		Limits:   wire.Limits{MaxBitfield: (t.layout.NumPieces + 7) / 8},
		Deliver:  func(ev peerconn.Event) bool { return t.deliver(peerEvent{p: p, msg: ev.Msg, err: ev.Err}) },
		Blocks:   t.storage,
		Fast:     p.fast,
		Up:       t.cl.up,
		Down:     t.cl.down,
		OnServed: func(n int) { t.uploaded.Add(int64(n)) },
		Pool:     &t.blocks,
	})
	p.mine = func(b picker.Block) bool {
		_, ok := p.inflight[blockRef{piece: b.Piece, block: b.Index}]
		return ok
	}
	return p
}

// sendable is what the peer may send us now: what it has, or while it
// chokes us, what of that it allows (BEP 6).
func (p *peer) sendable() *bitfield.Bitfield {
	if p.peerChoking {
		return &p.allowedBF
	}
	return &p.bf
}

// shut closes the connection; its goroutines then stop.
func (p *peer) shut() { p.pc.Close() }

// send queues a message without blocking the caller.
func (p *peer) send(m wire.Message) { p.pc.Send(m) }

// peerEvent is what a reader goroutine tells the loop: a message or, with
// err set, that the connection ended. Piece payloads are in pooled buffers
// the loop gives back.
type peerEvent struct {
	p   *peer
	msg wire.Message
	err error
}
