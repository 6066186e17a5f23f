// Package peerconn runs one peer connection's transport: a reader that
// decodes messages (strict limits, an idle deadline) and hands them to the
// connection's owner, and a writer that sends a bounded outbox with a
// deadline per write, keeps the connection alive, and serves queued block
// requests from a BlockSource, waiting on the upload limiter before each
// block's write deadline is set. It knows nothing of torrents: the owner
// (the torrent's event loop) decides what to send and what a message means.
//
// The owner runs ReadLoop and WriteLoop on goroutines it waits for; Close
// ends both.
package peerconn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/btfs/btfs/swarm/wire"
)

// Defaults for Config's zero values.
const (
	DefaultWriteTimeout = 60 * time.Second
	DefaultReadIdle     = 3 * time.Minute // peers send keep-alives every 2 minutes
	DefaultKeepAlive    = 90 * time.Second
	DefaultMaxOutbox    = 4096
	// DefaultIdleClose is how long a peer may send nothing but
	// keep-alives (libtorrent's inactivity timeout is the same).
	DefaultIdleClose = 10 * time.Minute
)

// ErrOutboxFull ends a connection whose peer does not read what we send.
var ErrOutboxFull = errors.New("peer connection: outbox full: the peer is not reading")

// ErrIdle ends a connection on which the peer sent nothing but
// keep-alives (or nothing) for IdleClose.
var ErrIdle = errors.New("peer connection: idle: nothing but keep-alives for too long")

// ErrFlood ends a connection whose peer sends keep-alives or control
// messages (choke, unchoke, interest, bitfield, port, extended, ...) far
// faster than any client does: a flood costs us CPU and buys nothing.
var ErrFlood = errors.New("peer connection: message flood")

// Flood bounds: token buckets, per connection. A keep-alive every few
// seconds is already far more than clients send (one per one to two
// minutes); control messages come a few per second at most, in bursts
// when a connection starts (allowed-fast sets) or PEX/metadata traffic
// runs. Haves, requests, cancels, rejects and pieces are bounded where
// they are judged (the torrent knows which are redundant), so the
// per-block path never touches these buckets.
const (
	keepAliveBurst = 16
	keepAliveEvery = 5 * time.Second
	controlBurst   = 1024
	controlPerSec  = 100
)

// BlockSource serves the blocks peers ask for.
type BlockSource interface {
	// ReadBlock copies bytes [begin, begin+len(p)) of a piece into p; false
	// when the piece is not held.
	ReadBlock(piece, begin int, p []byte) (bool, error)
}

// Event is what the reader tells the owner: a message, or with Err set,
// that the connection ended. A Piece message's payload is a pooled buffer
// the owner gives back with Pool.Put.
type Event struct {
	Msg wire.Message
	Err error
}

// Config configures a Conn. Deliver is required.
type Config struct {
	Limits wire.Limits
	// Deliver hands an event to the owner; false means the owner is gone
	// and the reader stops.
	Deliver func(Event) bool
	// Blocks serves the requests queued with Serve.
	Blocks BlockSource
	// Fast: a queued request that cannot be served is rejected (BEP 6).
	Fast bool
	// Up and Down limit payload bytes; nil means unlimited.
	Up, Down *rate.Limiter
	// OnServed is called by the writer after each queued block: n bytes
	// written, or 0 when it was given up. May be nil.
	OnServed func(n int)
	// Pool recycles block payload buffers; nil allocates each one.
	Pool *Pool

	// ReadIdle bounds each message's arrival (a slow trickle of bytes
	// ends the connection); IdleClose bounds the time with nothing but
	// keep-alives.
	WriteTimeout, ReadIdle, KeepAlive, IdleClose time.Duration
	MaxOutbox                                    int // messages (not counting queued blocks)
}

// item is one thing the writer sends: a message, or (serve) a block it
// reads from the BlockSource itself.
type item struct {
	msg   wire.Message
	serve bool
}

// Conn is one peer connection.
type Conn struct {
	conn net.Conn
	cfg  Config
	ctx  context.Context
	stop context.CancelFunc

	// mu guards q and nmsg; it separates the owner (producer) from the
	// writer goroutine (consumer). Nothing else is taken while it is held.
	mu   sync.Mutex
	q    []item
	nmsg int // messages (not serves) in q
	sig  chan struct{}

	queued   atomic.Int32 // blocks queued and not yet written or given up
	uploaded atomic.Int64
	cause    atomic.Pointer[error] // why the connection was closed, if we closed it

	renew time.Time // writer-owned: when the write deadline must be moved
}

// New wraps a handshaken connection. ctx ends the connection when done.
func New(ctx context.Context, conn net.Conn, cfg Config) *Conn {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ReadIdle <= 0 {
		cfg.ReadIdle = DefaultReadIdle
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.IdleClose <= 0 {
		cfg.IdleClose = DefaultIdleClose
	}
	if cfg.MaxOutbox <= 0 {
		cfg.MaxOutbox = DefaultMaxOutbox
	}
	c := &Conn{conn: conn, cfg: cfg, sig: make(chan struct{}, 1)}
	c.ctx, c.stop = context.WithCancel(ctx)
	context.AfterFunc(c.ctx, func() { conn.Close() })
	return c
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Close ends the connection; both loops return soon after.
func (c *Conn) Close() { c.stop() }

// Done is closed once the connection is closing.
func (c *Conn) Done() <-chan struct{} { return c.ctx.Done() }

// Queued is the number of blocks queued with Serve and not yet written.
func (c *Conn) Queued() int { return int(c.queued.Load()) }

// Uploaded is the block bytes written to the peer.
func (c *Conn) Uploaded() int64 { return c.uploaded.Load() }

// Send queues a message without blocking. A peer that lets the outbox
// fill up is disconnected (ErrOutboxFull reaches the owner).
func (c *Conn) Send(m wire.Message) {
	c.mu.Lock()
	if c.nmsg >= c.cfg.MaxOutbox {
		c.mu.Unlock()
		c.closeWith(ErrOutboxFull)
		return
	}
	c.nmsg++
	c.q = append(c.q, item{msg: m})
	c.mu.Unlock()
	c.wake()
}

// Serve queues a block for the writer to read from Blocks and send; req
// is the peer's request (Index, Begin, Length). The owner bounds how many
// it queues (see Queued).
func (c *Conn) Serve(req wire.Message) {
	c.queued.Add(1)
	c.mu.Lock()
	c.q = append(c.q, item{msg: wire.Message{ID: wire.Piece, Index: req.Index, Begin: req.Begin, Length: req.Length}, serve: true})
	c.mu.Unlock()
	c.wake()
}

func (c *Conn) wake() {
	select {
	case c.sig <- struct{}{}:
	default:
	}
}

// Cancel removes a queued, not yet sent, block (the peer's cancel). It
// reports whether one was removed.
func (c *Conn) Cancel(index, begin, length uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, it := range c.q {
		if it.serve && it.msg.Index == index && it.msg.Begin == begin && it.msg.Length == length {
			c.q = append(c.q[:i], c.q[i+1:]...)
			c.queued.Add(-1)
			return true
		}
	}
	return false
}

// DropServes removes the queued, not yet sent, blocks for which keep is
// false and returns their requests.
func (c *Conn) DropServes(keep func(wire.Message) bool) []wire.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var dropped []wire.Message
	q := c.q[:0]
	for _, it := range c.q {
		if it.serve && !keep(it.msg) {
			dropped = append(dropped, it.msg)
			c.queued.Add(-1)
			continue
		}
		q = append(q, it)
	}
	clear(c.q[len(q):])
	c.q = q
	return dropped
}

// closeWith closes the connection for err; the reader, which then fails,
// reports err (the first one) to the owner.
func (c *Conn) closeWith(err error) {
	c.cause.CompareAndSwap(nil, &err)
	c.stop()
}

// ReadLoop decodes messages and delivers them until the connection ends.
func (c *Conn) ReadLoop() {
	r := wire.NewReader(bufio.NewReaderSize(c.conn, 64*1024), c.cfg.Limits)
	lastMsg := time.Now()
	keepAlives := rate.NewLimiter(rate.Every(keepAliveEvery), keepAliveBurst)
	control := rate.NewLimiter(controlPerSec, controlBurst)
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.cfg.ReadIdle))
		m, err := r.Read()
		if err == nil && m.KeepAlive && time.Since(lastMsg) > c.cfg.IdleClose {
			err = ErrIdle
			c.closeWith(err)
		}
		switch {
		case err != nil:
		case m.KeepAlive && !keepAlives.Allow():
			err = fmt.Errorf("%w: keep-alives", ErrFlood)
		case !m.KeepAlive && isControl(m.ID) && !control.Allow():
			err = fmt.Errorf("%w: %v and other control messages", ErrFlood, m.ID)
		}
		if errors.Is(err, ErrFlood) {
			c.closeWith(err)
		}
		if err != nil {
			if cause := c.cause.Load(); cause != nil {
				err = *cause
			}
			c.stop()
			c.cfg.Deliver(Event{Err: err})
			return
		}
		if m.KeepAlive {
			continue
		}
		lastMsg = time.Now()
		switch m.ID {
		case wire.Piece:
			if c.cfg.Down != nil {
				// Not reading the socket meanwhile is what slows the peer.
				if err := c.cfg.Down.WaitN(c.ctx, len(m.Payload)); err != nil {
					return
				}
			}
			m.Payload = c.cfg.Pool.Copy(m.Payload)
		case wire.Bitfield, wire.Extended:
			m.Payload = append([]byte(nil), m.Payload...)
		default:
			m.Payload = nil
		}
		if !c.cfg.Deliver(Event{Msg: m}) {
			return
		}
		if c.ctx.Err() != nil {
			return
		}
	}
}

// isControl reports whether id is a message a peer sends a few of per
// connection state change (not per block or piece).
func isControl(id wire.ID) bool {
	switch id {
	case wire.Choke, wire.Unchoke, wire.Interested, wire.NotInterested, wire.Bitfield,
		wire.Port, wire.Extended, wire.HaveAll, wire.HaveNone, wire.Suggest, wire.AllowedFast:
		return true
	}
	return false
}
