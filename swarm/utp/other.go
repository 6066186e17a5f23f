package utp

import (
	"net"
	"os"
	"sync"
)

// otherConn is the Mux's view for the datagrams that are not uTP.
type otherConn struct {
	m         *Mux
	q         chan datagram
	closed    chan struct{}
	closeOnce sync.Once
	deadlines // read and write

	dropMu  sync.Mutex // guards dropped between the Mux's reader and Dropped
	dropped uint64
}

type datagram struct {
	b    []byte
	addr net.Addr
}

var _ net.PacketConn = (*otherConn)(nil)

func newOtherConn(m *Mux, size int) *otherConn {
	return &otherConn{m: m, q: make(chan datagram, size), closed: make(chan struct{})}
}

// deliver queues a copy of b, or drops it when the queue is full or the
// view is closed. It never blocks.
func (o *otherConn) deliver(b []byte, addr net.Addr) {
	select {
	case <-o.closed:
		return
	default:
	}
	d := datagram{b: append([]byte(nil), b...), addr: addr}
	select {
	case o.q <- d:
	default:
		o.dropMu.Lock()
		o.dropped++
		o.dropMu.Unlock()
	}
}

func (o *otherConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if o.isClosed() {
		return 0, nil, o.opErr("read", net.ErrClosed)
	}
	if o.rdl.expired() {
		return 0, nil, o.opErr("read", os.ErrDeadlineExceeded)
	}
	select {
	case d := <-o.q:
		return copy(b, d.b), d.addr, nil
	case <-o.closed:
		return 0, nil, o.opErr("read", net.ErrClosed)
	case <-o.rdl.wait():
		return 0, nil, o.opErr("read", os.ErrDeadlineExceeded)
	}
}

func (o *otherConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if o.isClosed() {
		return 0, o.opErr("write", net.ErrClosed)
	}
	if o.wdl.expired() {
		return 0, o.opErr("write", os.ErrDeadlineExceeded)
	}
	return o.m.pc.WriteTo(b, addr)
}

// Close closes only this view: the uTP side keeps running.
func (o *otherConn) Close() error {
	o.closeOnce.Do(func() {
		close(o.closed)
		o.deadlines.stop()
	})
	return nil
}

func (o *otherConn) isClosed() bool {
	select {
	case <-o.closed:
		return true
	default:
		return false
	}
}

func (o *otherConn) LocalAddr() net.Addr { return o.m.pc.LocalAddr() }

// Dropped returns the number of datagrams dropped because the queue was full.
func (o *otherConn) Dropped() uint64 {
	o.dropMu.Lock()
	defer o.dropMu.Unlock()
	return o.dropped
}

func (o *otherConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Addr: o.m.pc.LocalAddr(), Err: err}
}
