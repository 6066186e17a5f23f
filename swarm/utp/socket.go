package utp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Errors a connection ends with.
var (
	// ErrReset: the peer sent ST_RESET.
	ErrReset = errors.New("utp: connection reset by peer")
	// ErrTimedOut: the peer stopped acknowledging, or went silent for
	// longer than Config.IdleTimeout.
	ErrTimedOut = errors.New("utp: connection timed out")
	// ErrTooManyConns: Dial found Config.MaxConns connections open.
	ErrTooManyConns = errors.New("utp: too many connections")
)

// tick is the timer goroutine's resolution. Timeouts are at least 500 ms.
const tick = 20 * time.Millisecond

// connKey identifies a connection: the peer's address and the connection
// id the peer puts in the packets it sends us (our receive id).
type connKey struct {
	addr netip.AddrPort
	id   uint16
}

// Socket is a net.Listener for incoming uTP connections and a dialer.
type Socket struct {
	m      *Mux
	cfg    Config
	epoch  time.Time // timestamps are microseconds since this
	bufLen int       // length of pooled buffers
	pool   sync.Pool // of *[]byte of length bufLen
	bpool  sync.Pool // of *batch

	// The lock order is Conn.mu before Socket.mu: a connection removes
	// itself from the table with its own lock held. Socket.mu is never
	// held while a Conn.mu is taken.
	mu           sync.Mutex // guards the fields below; separates Accept, Dial, Close, the dispatcher and the timer
	conns        map[connKey]*Conn
	acceptQ      []*Conn
	listenClosed bool
	closed       bool

	acceptC    chan struct{} // signalled when acceptQ grows
	listenDone chan struct{} // closed by Close
	wakeC      chan struct{} // wakes the idle timer when a conn appears

	// Owned by the dispatcher goroutine.
	ackList   []*Conn
	rstTokens float64
	rstLast   time.Time
	last      *Conn // the connection of the previous packet, a lookup cache
}

func newSocket(m *Mux) *Socket {
	s := &Socket{
		m:          m,
		cfg:        m.cfg,
		epoch:      time.Now(),
		bufLen:     max(2048, headerLen+2+maxSACKBytes+m.cfg.PayloadSize),
		conns:      make(map[connKey]*Conn),
		acceptC:    make(chan struct{}, 1),
		listenDone: make(chan struct{}),
		wakeC:      make(chan struct{}, 1),
		rstTokens:  float64(m.cfg.ResetRate),
	}
	s.pool.New = func() any {
		b := make([]byte, s.bufLen)
		return &b
	}
	return s
}

// getBuf returns a buffer of length n, pooled if n fits.
func (s *Socket) getBuf(n int) *[]byte {
	if n > s.bufLen {
		b := make([]byte, n)
		return &b
	}
	b := s.pool.Get().(*[]byte)
	*b = (*b)[:n]
	return b
}

func (s *Socket) putBuf(b *[]byte) {
	if b == nil || cap(*b) != s.bufLen {
		return
	}
	*b = (*b)[:s.bufLen]
	s.pool.Put(b)
}

// getBatch returns a batch for a flush if segmentation offload is on, nil
// otherwise.
func (s *Socket) getBatch() *batch {
	if !s.m.gso.Load() {
		return nil
	}
	if bt, ok := s.bpool.Get().(*batch); ok {
		return bt
	}
	return &batch{buf: make([]byte, 0, maxBatchBytes)}
}

func (s *Socket) putBatch(bt *batch) {
	if bt != nil {
		s.bpool.Put(bt)
	}
}

// micro is the timestamp of now for the packet header.
func (s *Socket) micro(now time.Time) uint32 {
	return uint32(now.Sub(s.epoch).Microseconds())
}

func (s *Socket) send(b []byte, to netip.AddrPort) {
	_ = s.m.writeTo(b, to) // a datagram lost here is a datagram lost on the path
}

// Accept waits for and returns the next incoming connection.
func (s *Socket) Accept() (net.Conn, error) {
	for {
		s.mu.Lock()
		if s.listenClosed || s.closed {
			s.mu.Unlock()
			return nil, &net.OpError{Op: "accept", Net: "utp", Addr: s.Addr(), Err: net.ErrClosed}
		}
		if len(s.acceptQ) > 0 {
			c := s.acceptQ[0]
			s.acceptQ[0] = nil
			s.acceptQ = s.acceptQ[1:]
			if len(s.acceptQ) > 0 {
				s.signalAccept()
			}
			s.mu.Unlock()
			c.accepted.Store(true)
			return c, nil
		}
		s.mu.Unlock()
		select {
		case <-s.acceptC:
		case <-s.listenDone:
		}
	}
}

func (s *Socket) signalAccept() {
	select {
	case s.acceptC <- struct{}{}:
	default:
	}
}

// Close stops accepting: Accept returns an error, new SYNs are ignored and
// connections not yet accepted are reset. Connections already accepted or
// dialed keep working, and Dial still works, until the Mux is closed.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.listenClosed {
		s.mu.Unlock()
		return nil
	}
	s.listenClosed = true
	close(s.listenDone)
	q := s.acceptQ
	s.acceptQ = nil
	s.mu.Unlock()
	for _, c := range q {
		c.abort(net.ErrClosed)
	}
	return nil
}

// Addr returns the shared socket's local address.
func (s *Socket) Addr() net.Addr { return s.m.pc.LocalAddr() }

// Dial opens a uTP connection to addr. It gives up when ctx is done or,
// if ctx has no deadline, after Config.DialTimeout.
func (s *Socket) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	addr = canon(addr)
	raddr := net.UDPAddrFromAddrPort(addr)
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "utp", Source: s.Addr(), Addr: raddr, Err: err}
	}
	if !addr.IsValid() || addr.Port() == 0 {
		return nil, opErr(fmt.Errorf("invalid address %v", addr))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.DialTimeout)
		defer cancel()
	}
	c, err := s.newOutgoing(addr, time.Now())
	if err != nil {
		return nil, opErr(err)
	}
	select {
	case <-c.establishedC:
		return c, nil
	case <-c.doneC:
		return nil, opErr(c.terminalErr())
	case <-ctx.Done():
		c.abort(ctx.Err())
		return nil, opErr(ctx.Err())
	}
}

// newOutgoing registers a connection in state SYN-sent and sends its SYN.
func (s *Socket) newOutgoing(addr netip.AddrPort, now time.Time) (*Conn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, net.ErrClosed
	}
	if len(s.conns) >= s.cfg.MaxConns {
		s.mu.Unlock()
		return nil, ErrTooManyConns
	}
	// Our receive id is r and our send id r+1 (BEP 29). Keep r unique per
	// peer, and keep r+1 free too: an incoming SYN with id r would map to
	// key r+1.
	var id uint16
	found := false
	for range 64 {
		id = uint16(rand.Uint32())
		_, a := s.conns[connKey{addr, id}]
		_, b := s.conns[connKey{addr, id + 1}]
		if !a && !b {
			found = true
			break
		}
	}
	if !found {
		s.mu.Unlock()
		return nil, ErrTooManyConns
	}
	c := newConn(s, addr, id, id+1, true, uint16(rand.Uint32()), now)
	s.conns[connKey{addr, id}] = c
	s.wakeTimerLocked()
	s.mu.Unlock()

	c.mu.Lock()
	c.sendSyn(now)
	c.mu.Unlock()
	s.cfg.Logger.Debug("utp: dialing", "addr", addr, "id", id)
	return c, nil
}

// handlePacket processes one uTP datagram. It reports whether the
// connection kept buf (as received data).
func (s *Socket) handlePacket(buf *[]byte, n int, from netip.AddrPort, now time.Time) bool {
	b := (*buf)[:n]
	h, payload, err := parsePacket(b)
	if err != nil {
		return false
	}
	from = canon(from)
	switch h.typ {
	case stSyn:
		s.handleSyn(&h, from, now)
		return false
	case stReset:
		s.handleReset(&h, from)
		return false
	}
	c := s.lookup(connKey{from, h.connID})
	if c == nil {
		s.maybeReset(&h, from, now)
		return false
	}
	kept, ack := c.handlePacket(&h, payload, buf, now)
	if ack && !c.ackListed {
		c.ackListed = true
		s.ackList = append(s.ackList, c)
	}
	return kept
}

func (s *Socket) lookup(k connKey) *Conn {
	if c := s.last; c != nil && c.key() == k && !c.isDone() {
		return c
	}
	s.mu.Lock()
	c := s.conns[k]
	s.mu.Unlock()
	if c != nil {
		s.last = c
	}
	return c
}

// flushAcks sends the acks deferred while the dispatcher had packets queued.
func (s *Socket) flushAcks(now time.Time) {
	for i, c := range s.ackList {
		c.ackListed = false
		c.flushAck(now)
		s.ackList[i] = nil
	}
	s.ackList = s.ackList[:0]
}

func (s *Socket) handleSyn(h *header, from netip.AddrPort, now time.Time) {
	key := connKey{from, h.connID + 1}
	s.mu.Lock()
	if c := s.conns[key]; c != nil {
		s.mu.Unlock()
		c.handleDupSyn(h, now)
		return
	}
	if s.listenClosed || s.closed || len(s.acceptQ) >= s.cfg.AcceptBacklog {
		s.mu.Unlock()
		return
	}
	var victim *Conn
	if len(s.conns) >= s.cfg.MaxConns {
		victim = s.evictLocked()
		if victim == nil {
			s.mu.Unlock()
			return
		}
	}
	c := newConn(s, from, h.connID+1, h.connID, false, uint16(rand.Uint32()), now)
	c.acceptSyn(h, now)
	s.conns[key] = c
	s.acceptQ = append(s.acceptQ, c)
	s.signalAccept()
	s.wakeTimerLocked()
	s.mu.Unlock()

	if victim != nil {
		victim.abort(errEvicted)
	}
	c.mu.Lock()
	c.sendState(now)
	c.mu.Unlock()
}

var errNotConnected = errors.New("utp: not connected")

var errEvicted = errors.New("utp: evicted to make room for a new connection")

// evictLocked removes a closed connection that is still delivering its
// last data, preferring one whose peer never answered. The caller aborts it
// after unlocking.
func (s *Socket) evictLocked() *Conn {
	var pick *Conn
	for k, c := range s.conns {
		if !c.lingering.Load() {
			continue
		}
		if !c.confirmedFlag.Load() {
			delete(s.conns, k)
			return c
		}
		if pick == nil {
			pick = c
		}
	}
	if pick != nil {
		delete(s.conns, pick.key())
	}
	return pick
}

// handleReset ends the connection a reset is for. Peers differ in the id
// they put in a reset, so it may match our receive id or our send id.
func (s *Socket) handleReset(h *header, from netip.AddrPort) {
	s.mu.Lock()
	var c *Conn
	for _, id := range [...]uint16{h.connID, h.connID + 1, h.connID - 1} {
		cand := s.conns[connKey{from, id}]
		if cand != nil && (cand.recvID == h.connID || cand.sendID == h.connID) {
			c = cand
			break
		}
	}
	s.mu.Unlock()
	if c != nil {
		c.handleReset(h)
	}
}

// maybeReset answers a packet for an unknown connection with ST_RESET, at
// most Config.ResetRate times a second. The reset carries the connection id
// of the packet, as libutp's do; libutp matches such a reset against both
// of its ids, libtorrent (which matches only its receive id) ignores it.
func (s *Socket) maybeReset(h *header, from netip.AddrPort, now time.Time) {
	if h.typ == stReset {
		return
	}
	rate := float64(s.cfg.ResetRate)
	s.rstTokens = min(rate, s.rstTokens+now.Sub(s.rstLast).Seconds()*rate)
	s.rstLast = now
	if s.rstTokens < 1 {
		return
	}
	s.rstTokens--
	r := header{typ: stReset, connID: h.connID, ts: s.micro(now), seq: uint16(rand.Uint32()), ack: h.seq}
	var b [headerLen]byte
	putHeader(b[:], &r)
	s.send(b[:], from)
}

// removeConn drops c from the table and the accept queue. Called with c.mu
// held.
func (s *Socket) removeConn(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := c.key()
	if s.conns[k] == c {
		delete(s.conns, k)
	}
	for i, q := range s.acceptQ {
		if q == c {
			s.acceptQ = append(s.acceptQ[:i], s.acceptQ[i+1:]...)
			break
		}
	}
}

// numConns returns the number of tracked connections.
func (s *Socket) numConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Socket) wakeTimerLocked() {
	select {
	case s.wakeC <- struct{}{}:
	default:
	}
}

// timerLoop drives every connection's timers. It sleeps while there are
// no connections.
func (s *Socket) timerLoop() {
	defer s.m.wg.Done()
	t := time.NewTimer(tick)
	defer t.Stop()
	var conns []*Conn
	for {
		select {
		case <-t.C:
		case <-s.m.closing:
			return
		}
		s.mu.Lock()
		conns = conns[:0]
		for _, c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		now := time.Now()
		for i, c := range conns {
			c.tick(now)
			conns[i] = nil
		}
		if len(conns) == 0 {
			select {
			case <-s.wakeC:
			case <-s.m.closing:
				return
			}
		}
		t.Reset(tick)
	}
}

// shutdown ends every connection; the Mux's goroutines have exited.
func (s *Socket) shutdown() {
	s.mu.Lock()
	s.closed = true
	if !s.listenClosed {
		s.listenClosed = true
		close(s.listenDone)
	}
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.acceptQ = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		c.terminate(net.ErrClosed)
		c.mu.Unlock()
	}
}
