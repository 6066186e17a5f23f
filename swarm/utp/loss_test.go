package utp

import (
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// lossyConn drops and reorders the datagrams written through it, using a
// seeded generator so failures reproduce.
type lossyConn struct {
	net.PacketConn
	drop, reorder float64 // probabilities

	mu      sync.Mutex // guards the fields below between writers and the releaser
	rng     *rand.Rand
	held    []byte // a datagram delayed until after the next one
	heldTo  net.Addr
	sent    int
	dropped int
}

func newLossyConn(pc net.PacketConn, drop, reorder float64, seed uint64) *lossyConn {
	return &lossyConn{PacketConn: pc, drop: drop, reorder: reorder, rng: rand.New(rand.NewPCG(seed, 0))}
}

func (l *lossyConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
	r := l.rng.Float64()
	if r < l.drop {
		l.dropped++
		return len(b), nil
	}
	if r < l.drop+l.reorder && l.held == nil {
		// delayed until after the next datagram, or by 5 ms at most
		held := append([]byte(nil), b...)
		l.held, l.heldTo = held, addr
		time.AfterFunc(5*time.Millisecond, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if len(l.held) > 0 && &l.held[0] == &held[0] {
				l.release()
			}
		})
		return len(b), nil
	}
	n, err := l.PacketConn.WriteTo(b, addr)
	l.release()
	return n, err
}

// release sends the held datagram. Called with l.mu held.
func (l *lossyConn) release() {
	if l.held != nil {
		l.PacketConn.WriteTo(l.held, l.heldTo)
		l.held = nil
	}
}

func (l *lossyConn) stats() (sent, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.dropped
}

func TestLossAndReorder(t *testing.T) {
	const size = 4 << 20
	la := newLossyConn(listenUDP(t), 0.05, 0.05, 1)
	lb := newLossyConn(listenUDP(t), 0.05, 0.05, 2)
	a, b := newMux(t, la, Config{}), newMux(t, lb, Config{})
	client, server := connect(t, a, b)
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		transfer(t, client, server, randomBytes(size, 5), 30*time.Second)
	}()
	go func() {
		defer wg.Done()
		transfer(t, server, client, randomBytes(size/4, 6), 30*time.Second)
	}()
	wg.Wait()
	sa, da := la.stats()
	sb, db := lb.stats()
	t.Logf("4 MiB + 1 MiB in %v; datagrams sent %d+%d, dropped %d+%d", time.Since(start), sa, sb, da, db)
	t.Logf("client %+v", client.(*Conn).Stats())
	t.Logf("server %+v", server.(*Conn).Stats())
	if da == 0 || db == 0 {
		t.Error("nothing was dropped")
	}
}

// Heavy loss in one direction only: acks get through, data is lost a lot.
func TestHeavyLoss(t *testing.T) {
	const size = 1 << 20
	la := newLossyConn(listenUDP(t), 0.2, 0.1, 3)
	a, b := newMux(t, la, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	start := time.Now()
	transfer(t, client, server, randomBytes(size, 7), 40*time.Second)
	t.Logf("1 MiB in %v", time.Since(start))
	t.Logf("client %+v", client.(*Conn).Stats())
	t.Logf("server %+v", server.(*Conn).Stats())
}
