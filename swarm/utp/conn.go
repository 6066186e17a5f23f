package utp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

type connState uint8

const (
	stateSynSent   connState = iota // dialed; waiting for the ack of our SYN
	stateSynRecv                    // accepted; nothing heard since the peer's SYN
	stateConnected                  // both sides have heard from each other
	stateDone                       // ended and out of the socket's table
)

const (
	// maxOutPackets caps the packets sent but not acknowledged.
	maxOutPackets = 1024
	// smallPayload: received payloads shorter than this are copied rather
	// than kept in their packet buffer, so that a peer sending tiny packets
	// cannot make us hold a whole buffer per byte.
	smallPayload = 512
	// initialPeerWnd is assumed until the peer advertises its window
	// (a SYN's window is not meaningful: libtorrent sends 0).
	initialPeerWnd = 64 << 10
	// maxRetries is the number of consecutive timeouts a connection
	// survives; one whose peer never answered survives one.
	maxRetries = 5
	maxSynTx   = 6
	// minProbe is the shortest wait for acks before a tail loss probe.
	minProbe = 2 * tick
	// unconfirmedTimeout ends a connection that waits for Accept and has
	// heard nothing from its peer since the SYN.
	unconfirmedTimeout = 10 * time.Second
)

// outPacket is a packet sent and not yet acknowledged.
type outPacket struct {
	buf        *[]byte // header and payload
	seq        uint16
	typ        uint8
	size       int // payload bytes
	sentAt     time.Time
	tx         int    // transmissions so far
	needResend bool   // lost: sent again when the window allows
	sacked     bool   // selectively acknowledged
	fastResent bool   // already resent for duplicate or selective acks
	resendMark uint16 // seqNr when last resent: packets from here were sent after it
}

func (p *outPacket) inFlight() bool { return p.tx > 0 && !p.needResend && !p.sacked }

// chunk is received data: data aliases buf (pooled) or, if buf is nil, its
// own allocation.
type chunk struct {
	buf  *[]byte
	data []byte
}

// Conn is one uTP connection. It implements net.Conn; Read and Write may be
// called from different goroutines at once.
type Conn struct {
	s        *Socket
	raddr    netip.AddrPort
	udpRaddr *net.UDPAddr
	recvID   uint16 // the id in the packets we receive
	sendID   uint16 // the id in the packets we send
	outgoing bool
	mss      int

	deadlines                  // read and write
	readC        chan struct{} // signalled when Read may make progress
	writeC       chan struct{} // signalled when Write may make progress
	establishedC chan struct{} // closed when a dialed connection is up
	doneC        chan struct{} // closed when the connection has ended
	closedC      chan struct{} // closed by Close
	writeMu      sync.Mutex    // serializes writers so their bytes do not interleave

	// Read without c.mu by the socket (eviction) and the dispatcher.
	lingering     atomic.Bool // Close was called; the FIN may still be in flight
	confirmedFlag atomic.Bool // we heard from the peer after the SYN
	accepted      atomic.Bool // handed out by Accept (or dialed)
	done          atomic.Bool // state is stateDone

	ackListed bool // in the dispatcher's deferred-ack list; dispatcher only

	mu        sync.Mutex // guards the fields below, between the dispatcher, the timer, Read, Write and Close
	state     connState
	err       error // why the connection ended
	appClosed bool
	finQueued bool // send a FIN after the buffered data
	finSent   bool
	finAcked  bool
	closeBy   time.Time

	// receive side
	ackNr         uint16 // last sequence number received in order
	synSeq        uint16 // sequence number of the SYN (ours if outgoing)
	rq            ring[chunk]
	rqBytes       int
	ooo           map[uint16]chunk // received out of order, by sequence number
	oooBytes      int
	gotFin        bool
	finSeq        uint16
	eof           bool // everything up to the peer's FIN was received
	replyMicro    uint32
	lastRecv      time.Time
	lastAdvWnd    uint32
	ackPending    bool
	ackNow        bool // send the pending ack before returning to the dispatcher
	lastKeepAlive time.Time

	// send side
	seqNr       uint16 // sequence number of the next new packet
	outq        ring[outPacket]
	unacked     int // payload bytes in outq
	resends     int // packets in outq waiting to be resent
	sendBuf     []byte
	sendOff     int // sendBuf[sendOff:] is not yet packetized
	inflight    int // payload bytes in flight
	peerWnd     int
	cc          congestion
	rtoAt       time.Time
	probeAt     time.Time // tail loss probe; zero if none is due
	timeouts    int
	dupAcks     int
	zeroWndAt   time.Time
	synTx       int
	synSentAt   time.Time
	scratch     []byte
	stats       stats
	lossScratch []int32
}

var _ net.Conn = (*Conn)(nil)

func newConn(s *Socket, addr netip.AddrPort, recvID, sendID uint16, outgoing bool, seq uint16, now time.Time) *Conn {
	c := &Conn{
		s:            s,
		raddr:        addr,
		udpRaddr:     net.UDPAddrFromAddrPort(addr),
		recvID:       recvID,
		sendID:       sendID,
		outgoing:     outgoing,
		mss:          s.cfg.PayloadSize,
		readC:        make(chan struct{}, 1),
		writeC:       make(chan struct{}, 1),
		establishedC: make(chan struct{}),
		doneC:        make(chan struct{}),
		closedC:      make(chan struct{}),
		lastRecv:     now,
		peerWnd:      initialPeerWnd,
		seqNr:        seq,
		state:        stateSynRecv,
	}
	if outgoing {
		c.state = stateSynSent
		c.synSeq = seq
		c.seqNr = seq + 1
		c.accepted.Store(true)
	}
	c.cc = newCongestion(c.mss, s.cfg.TargetDelay, c.seqNr)
	c.lastAdvWnd = c.recvWindow()
	return c
}

func (c *Conn) key() connKey { return connKey{c.raddr, c.recvID} }

func (c *Conn) isDone() bool { return c.done.Load() }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Read reads received data. It returns io.EOF once the peer's FIN and
// everything before it have been read.
func (c *Conn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		if c.appClosed {
			c.mu.Unlock()
			return 0, c.opErr("read", net.ErrClosed)
		}
		if c.rqBytes > 0 {
			n := c.readLocked(b)
			c.maybeUpdateWindow(time.Now())
			c.mu.Unlock()
			return n, nil
		}
		if c.eof {
			c.mu.Unlock()
			return 0, io.EOF
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return 0, c.opErr("read", err)
		}
		if len(b) == 0 {
			c.mu.Unlock()
			return 0, nil
		}
		c.mu.Unlock()
		if c.rdl.expired() {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		select {
		case <-c.readC:
		case <-c.rdl.wait():
		case <-c.doneC:
		case <-c.closedC:
		}
	}
}

// Write queues b for sending. It blocks while the send buffer is full.
func (c *Conn) Write(b []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	n := 0
	for {
		c.mu.Lock()
		var err error
		switch {
		case c.appClosed || c.finQueued:
			err = net.ErrClosed
		case c.err != nil:
			err = c.err
		case c.wdl.expired():
			err = os.ErrDeadlineExceeded
		}
		if err != nil {
			c.mu.Unlock()
			return n, c.opErr("write", err)
		}
		if n == len(b) {
			c.mu.Unlock()
			return n, nil
		}
		space := c.s.cfg.SendBuffer - (len(c.sendBuf) - c.sendOff) - c.unacked
		if space > 0 {
			k := min(space, len(b)-n)
			c.sendBuf = append(c.sendBuf, b[n:n+k]...)
			n += k
			c.flush(time.Now())
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		select {
		case <-c.writeC:
		case <-c.wdl.wait():
		case <-c.doneC:
		case <-c.closedC:
		}
	}
}

// Close sends a FIN after the data already written and returns at once;
// the data and the FIN are delivered in the background for at most
// Config.CloseTimeout. Unread received data is discarded.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.appClosed {
		return c.opErr("close", net.ErrClosed)
	}
	c.appClosed = true
	close(c.closedC)
	c.lingering.Store(true)
	c.deadlines.stop()
	c.releaseRead()
	now := time.Now()
	switch c.state {
	case stateDone:
		return nil
	case stateSynSent:
		c.sendReset(now)
		c.terminate(net.ErrClosed)
		return nil
	}
	c.finQueued = true
	c.closeBy = now.Add(c.s.cfg.CloseTimeout)
	c.flush(now)
	c.checkDone()
	return nil
}

// CloseWrite sends a FIN after the data already written: the peer reads
// EOF, and this side can still Read. Writes fail afterwards.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.appClosed || c.finQueued {
		return c.opErr("close", net.ErrClosed)
	}
	if c.state == stateDone {
		return c.opErr("close", c.err)
	}
	if c.state == stateSynSent {
		return c.opErr("close", errNotConnected)
	}
	c.finQueued = true
	c.flush(time.Now())
	return nil
}

// abort ends the connection at once with a reset.
func (c *Conn) abort(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDone {
		return
	}
	c.sendReset(time.Now())
	c.terminate(err)
}

// LocalAddr returns the shared socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.s.Addr() }

// RemoteAddr returns the peer's UDP address.
func (c *Conn) RemoteAddr() net.Addr { return c.udpRaddr }

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "utp", Source: c.s.Addr(), Addr: c.udpRaddr, Err: err}
}

// terminalErr returns why the connection ended.
func (c *Conn) terminalErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return net.ErrClosed
	}
	return c.err
}

// terminate ends the connection and removes it from the socket. Received
// data stays readable unless Close was called. c.mu is held.
func (c *Conn) terminate(err error) {
	if c.state == stateDone {
		return
	}
	c.state = stateDone
	c.done.Store(true)
	if c.err == nil {
		c.err = err
	}
	for c.outq.len() > 0 {
		p := c.outq.popFront()
		c.s.putBuf(p.buf)
	}
	c.outq.reset()
	for _, ch := range c.ooo {
		c.s.putBuf(ch.buf)
	}
	c.ooo, c.oooBytes = nil, 0
	c.sendBuf, c.sendOff, c.unacked, c.inflight, c.resends = nil, 0, 0, 0, 0
	if c.appClosed {
		c.releaseRead()
	}
	close(c.doneC)
	c.s.removeConn(c)
	c.s.cfg.Logger.Debug("utp: connection ended", "addr", c.raddr, "id", c.recvID, "err", c.err)
}

// checkDone ends a closed connection once its FIN is acknowledged.
func (c *Conn) checkDone() {
	if c.state != stateDone && c.appClosed && c.finAcked && c.outq.len() == 0 {
		c.terminate(net.ErrClosed)
	}
}

// tick runs the connection's timers.
func (c *Conn) tick(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg := &c.s.cfg
	switch c.state {
	case stateDone:
		return
	case stateSynSent:
		if now.Before(c.rtoAt) {
			return
		}
		if c.synTx >= maxSynTx {
			c.terminate(ErrTimedOut)
			return
		}
		c.cc.rto = min(2*c.cc.rto, maxRTO)
		c.sendSyn(now)
		return
	case stateSynRecv:
		if !c.accepted.Load() && now.Sub(c.lastRecv) >= unconfirmedTimeout {
			c.terminate(ErrTimedOut)
			return
		}
	}
	if c.appClosed && now.After(c.closeBy) {
		c.sendReset(now)
		c.terminate(net.ErrClosed)
		return
	}
	if now.Sub(c.lastRecv) >= cfg.IdleTimeout {
		c.terminate(ErrTimedOut)
		return
	}
	if c.outq.len() > 0 && !c.rtoAt.IsZero() && !now.Before(c.rtoAt) {
		c.onTimeout(now)
		if c.state == stateDone {
			return
		}
	} else if c.outq.len() > 0 && !c.probeAt.IsZero() && !now.Before(c.probeAt) {
		c.sendProbe(now)
	}
	if c.outq.len() == 0 {
		c.rtoAt, c.probeAt = time.Time{}, time.Time{}
		if len(c.outq.buf) > 64 {
			c.outq.reset()
		}
		if c.sendOff == len(c.sendBuf) && cap(c.sendBuf) > 64<<10 {
			c.sendBuf, c.sendOff = nil, 0
		}
	}
	if c.rq.len() == 0 && len(c.rq.buf) > 64 {
		c.rq.reset()
	}
	if c.inflight == 0 && c.sendOff < len(c.sendBuf) {
		c.flush(now) // probes a closed peer window
	}
	if c.outq.len() == 0 && now.Sub(c.lastRecv) >= cfg.KeepAlive && now.Sub(c.lastKeepAlive) >= cfg.KeepAlive {
		c.sendKeepAlive(now)
	}
	if c.ackPending {
		c.sendState(now)
	}
}

// onTimeout handles a retransmission timeout: every packet in flight is
// considered lost, the window collapses to one packet and the first one is
// sent again.
func (c *Conn) onTimeout(now time.Time) {
	c.timeouts++
	c.stats.timeouts++
	limit := maxRetries
	if !c.confirmedFlag.Load() {
		limit = 1
	}
	if c.timeouts > limit {
		c.terminate(ErrTimedOut)
		return
	}
	if c.s.cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		sacked := 0
		for i := range c.outq.len() {
			if c.outq.at(i).sacked {
				sacked++
			}
		}
		f := c.outq.front()
		c.s.cfg.Logger.Debug("utp: timeout", "addr", c.raddr, "id", c.recvID, "outq", c.outq.len(), "sacked", sacked,
			"inflight", c.inflight, "cwnd", int(c.cc.cwnd), "peerwnd", c.peerWnd, "first_tx", f.tx, "first_fast", f.fastResent, "rto", c.cc.rto)
	}
	c.cc.onTimeout(c.seqNr)
	for i := range c.outq.len() {
		p := c.outq.at(i)
		p.fastResent = false
		if p.inFlight() {
			p.needResend = true
			c.resends++
			c.inflight -= p.size
		}
	}
	c.rtoAt, c.probeAt = time.Time{}, time.Time{}
	c.flush(now)
	if c.rtoAt.IsZero() {
		c.rtoAt = now.Add(c.cc.rto)
	}
	c.probeAt = time.Time{} // no probes until progress
}

// debug logs at debug level, without building the arguments' interfaces
// when that level is off.
func (c *Conn) debug(msg string, args ...any) {
	if c.s.cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		c.s.cfg.Logger.Debug(msg, append([]any{"addr", c.raddr, "id", c.recvID}, args...)...)
	}
}
