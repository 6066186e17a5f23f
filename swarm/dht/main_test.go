package dht

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memConn is a net.PacketConn without a network: it keeps what is
// written to it and reads nothing until closed.
type memConn struct {
	mu     sync.Mutex
	sent   []sent
	keep   bool
	local  *net.UDPAddr
	closed chan struct{}
	once   sync.Once
}

type sent struct {
	b  []byte
	to netip.AddrPort
}

func newMemConn(keep bool) *memConn {
	return &memConn{keep: keep, closed: make(chan struct{}),
		local: net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:6881"))}
}

func (c *memConn) ReadFrom([]byte) (int, net.Addr, error) {
	<-c.closed
	return 0, nil, net.ErrClosed
}

func (c *memConn) WriteTo(b []byte, a net.Addr) (int, error) {
	if c.keep {
		c.mu.Lock()
		c.sent = append(c.sent, sent{append([]byte(nil), b...), a.(*net.UDPAddr).AddrPort()})
		c.mu.Unlock()
	}
	return len(b), nil
}

// take returns and forgets what was written.
func (c *memConn) take() []sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sent
	c.sent = nil
	return s
}

func (c *memConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *memConn) LocalAddr() net.Addr              { return c.local }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// idOf returns an id whose first byte is b and the rest x.
func idOf(b, x byte) (id [20]byte) {
	for i := range id {
		id[i] = x
	}
	id[0] = b
	return id
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
