package swarm

import (
	"bufio"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btfs/btfs/swarm/bitfield"
	"github.com/btfs/btfs/swarm/picker"
	"github.com/btfs/btfs/swarm/wire"
)

const (
	handshakeTimeout = 10 * time.Second
	dialTimeout      = 5 * time.Second
	readIdleTimeout  = 3 * time.Minute // peers send keep-alives every 2 minutes
	keepAliveEvery   = 90 * time.Second
	writeTimeout     = 60 * time.Second
	maxServeQueue    = 256 // requests a peer may have queued with us
)

// blockRef names one block we asked a peer for.
type blockRef struct {
	piece, block int
}

// outItem is one thing the writer goroutine sends: a message, or (serve)
// a block it reads from storage itself.
type outItem struct {
	msg   wire.Message
	serve bool
}

// peer is one connection. Fields above the loop-owned marker are fixed at
// creation; the queue has its own lock; the rest belongs to the torrent's
// event loop alone.
type peer struct {
	t        *Torrent
	conn     net.Conn
	addr     netip.AddrPort
	id       [20]byte
	outgoing bool
	fast     bool
	done     chan struct{} // closed by shut
	once     sync.Once

	// qmu guards q; it separates the event loop (producer) from the writer
	// goroutine (consumer). Nothing else is taken while it is held.
	qmu  sync.Mutex
	q    []outItem
	qsig chan struct{} // capacity 1: "q is not empty"

	served   atomic.Int32 // blocks queued for this peer and not yet written
	uploaded atomic.Int64 // block bytes written to the peer

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
	strikes        int
	downloaded     int64
	ext            extState
}

func newPeer(t *Torrent, conn net.Conn, hs wire.Handshake, outgoing bool) *peer {
	ap, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	p := &peer{
		t: t, conn: conn, addr: ap, id: hs.PeerID, outgoing: outgoing, fast: hs.Fast(),
		done:        make(chan struct{}),
		qsig:        make(chan struct{}, 1),
		bf:          bitfield.New(t.layout.NumPieces),
		peerChoking: true, amChoking: true, since: time.Now(),
		inflight:    map[blockRef]time.Time{},
		allowed:     map[int]bool{},
		ourAllowed:  map[int]bool{},
		maxInflight: minPipeline * 2,
		allowedBF:   bitfield.New(t.layout.NumPieces),
	}
	p.mine = func(b picker.Block) bool {
		_, ok := p.inflight[blockRef{piece: b.Piece, block: b.Index}]
		return ok
	}
	return p
}

// shut closes the connection once; the goroutines then stop.
func (p *peer) shut() {
	p.once.Do(func() {
		close(p.done)
		p.conn.Close()
	})
}

// send queues a message without blocking the caller.
func (p *peer) send(m wire.Message) { p.enqueue(outItem{msg: m}) }

func (p *peer) enqueue(it outItem) {
	p.qmu.Lock()
	p.q = append(p.q, it)
	p.qmu.Unlock()
	select {
	case p.qsig <- struct{}{}:
	default:
	}
}

// dropServe removes a queued, not yet sent, block for a peer's cancel. It
// reports whether one was removed.
func (p *peer) dropServe(index, begin, length uint32) bool {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	for i, it := range p.q {
		if it.serve && it.msg.Index == index && it.msg.Begin == begin && it.msg.Length == length {
			p.q = append(p.q[:i], p.q[i+1:]...)
			return true
		}
	}
	return false
}

// dropServes removes the queued, not yet sent, blocks for which keep is
// false and returns their requests.
func (p *peer) dropServes(keep func(wire.Message) bool) []wire.Message {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	var dropped []wire.Message
	q := p.q[:0]
	for _, it := range p.q {
		if it.serve && !keep(it.msg) {
			dropped = append(dropped, it.msg)
			p.served.Add(-1)
			continue
		}
		q = append(q, it)
	}
	p.q = q
	return dropped
}

// peerEvent is what a reader goroutine tells the loop: a message or, with
// err set, that the connection ended. Piece payloads are in pooled buffers
// the loop gives back.
type peerEvent struct {
	p   *peer
	msg wire.Message
	err error
}

// readLoop decodes messages and forwards them to the event loop.
func (p *peer) readLoop() {
	r := wire.NewReader(bufio.NewReaderSize(p.conn, 64*1024), wire.Limits{MaxBitfield: (p.t.layout.NumPieces + 7) / 8})
	for {
		_ = p.conn.SetReadDeadline(time.Now().Add(readIdleTimeout))
		m, err := r.Read()
		if err != nil {
			p.t.deliver(peerEvent{p: p, err: err})
			return
		}
		if m.KeepAlive {
			continue
		}
		switch m.ID {
		case wire.Piece:
			if lim := p.t.cl.down; lim != nil {
				// Not reading the socket meanwhile is what slows the peer.
				if err := lim.WaitN(p.t.ctx, len(m.Payload)); err != nil {
					return
				}
			}
			m.Payload = p.t.blocks.copyOf(m.Payload)
		case wire.Bitfield, wire.Extended:
			m.Payload = append([]byte(nil), m.Payload...)
		default:
			m.Payload = nil
		}
		if !p.t.deliver(peerEvent{p: p, msg: m}) {
			return
		}
		select {
		case <-p.done:
			return
		default:
		}
	}
}

// writeLoop sends queued items, serving blocks from storage, and keeps the
// connection alive.
func (p *peer) writeLoop() {
	w := bufio.NewWriterSize(p.conn, 64*1024)
	keep := time.NewTicker(keepAliveEvery)
	defer keep.Stop()
	var scratch []byte
	block := make([]byte, wire.MaxBlockLen)
	var batch []outItem
	for {
		select {
		case <-p.done:
			return
		case <-p.t.ctx.Done():
			return
		case <-keep.C:
			scratch, _ = (&wire.Message{KeepAlive: true}).AppendBinary(scratch[:0])
		case <-p.qsig:
		}
		p.qmu.Lock()
		batch, p.q = p.q, batch[:0]
		p.qmu.Unlock()
		_ = p.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if len(scratch) > 0 {
			if _, err := w.Write(scratch); err != nil {
				p.fail(err)
				return
			}
			scratch = scratch[:0]
		}
		for i := range batch {
			it := &batch[i]
			if it.serve {
				d := block[:it.msg.Length]
				ok, err := p.t.storage.ReadBlock(int(it.msg.Index), int(it.msg.Begin), d)
				if err != nil || !ok {
					if p.fast {
						scratch = wire.AppendRequest(scratch[:0], wire.Reject, it.msg.Index, it.msg.Begin, it.msg.Length)
						if _, err := w.Write(scratch); err != nil {
							p.fail(err)
							return
						}
					}
					p.t.servedDone(p, 0)
					continue
				}
				if lim := p.t.cl.up; lim != nil {
					if err := w.Flush(); err != nil {
						p.fail(err)
						return
					}
					if err := lim.WaitN(p.t.ctx, len(d)); err != nil {
						return
					}
				}
				scratch = wire.AppendPiece(scratch[:0], it.msg.Index, it.msg.Begin, d)
				p.t.servedDone(p, len(d))
			} else {
				var err error
				if scratch, err = it.msg.AppendBinary(scratch[:0]); err != nil {
					continue
				}
			}
			if _, err := w.Write(scratch); err != nil {
				p.fail(err)
				return
			}
			it.msg.Payload = nil
		}
		if err := w.Flush(); err != nil {
			p.fail(err)
			return
		}
		scratch = scratch[:0]
	}
}

func (p *peer) fail(err error) {
	p.t.deliver(peerEvent{p: p, err: err})
	p.shut()
}
