package swarm

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// Admission: what the client lets in before a connection reaches a
// torrent. Peers proven to lie are banned by IP address, which a peer
// cannot change as easily as its peer id, and a banned address is turned
// away right after accept, before it costs a handshake. Connections are
// bounded by the file descriptors the process has, and handshakes in
// progress by a smaller number, so a flood of connections costs neither
// descriptors the disk cache needs nor a goroutine per socket.

const (
	// maxBans bounds the banned addresses remembered; the oldest go first.
	maxBans = 1 << 16
	// fdReserve is how many descriptors peers leave to everything else:
	// the FUSE device, the disk cache's files, trackers, the DHT.
	fdReserve = 256
	// maxHalfOpenCap bounds incoming connections still handshaking.
	maxHalfOpenCap = 128
)

// guard is the client's admission state; safe for concurrent use.
type guard struct {
	mu     sync.Mutex
	banned map[netip.Addr]struct{}
	order  []netip.Addr // ban order, to forget the oldest beyond maxBans

	conns    atomic.Int64  // open peer connections across all torrents
	maxConns int64         // descriptor budget for peer connections
	halfOpen chan struct{} // a token per incoming connection handshaking
}

func newGuard(maxConns int) *guard {
	if maxConns <= 0 {
		maxConns = fdBudget()
	}
	return &guard{
		banned:   map[netip.Addr]struct{}{},
		maxConns: int64(maxConns),
		halfOpen: make(chan struct{}, min(maxHalfOpenCap, max(4, maxConns/4))),
	}
}

// fdBudget is the number of peer connections the open-file limit allows
// (Go raises the soft limit to the hard one at start).
func fdBudget() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
		return 4096
	}
	return max(16, int(rl.Cur)-fdReserve)
}

// ban refuses a for the rest of the session; it reports whether a is new.
func (g *guard) ban(a netip.Addr) bool {
	a = a.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.banned[a]; ok {
		return false
	}
	if len(g.order) >= maxBans {
		delete(g.banned, g.order[0])
		g.order = g.order[1:]
	}
	g.banned[a] = struct{}{}
	g.order = append(g.order, a)
	return true
}

// isBanned reports whether a is banned.
func (g *guard) isBanned(a netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.banned[a.Unmap()]
	return ok
}

// bannedConn reports whether conn comes from a banned address.
func (g *guard) bannedConn(conn net.Conn) bool {
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	return err == nil && g.isBanned(ap.Addr())
}

// admitHalfOpen takes a handshake slot for an incoming connection, or
// reports false when every slot is busy or the descriptor budget is spent.
func (g *guard) admitHalfOpen() bool {
	if g.conns.Load()+int64(len(g.halfOpen)) >= g.maxConns {
		return false
	}
	select {
	case g.halfOpen <- struct{}{}:
		return true
	default:
		return false
	}
}

// doneHalfOpen gives a handshake slot back.
func (g *guard) doneHalfOpen() { <-g.halfOpen }

// room reports whether one more peer connection fits the budget.
func (g *guard) room() bool { return g.conns.Load() < g.maxConns }

// banAddr bans the address of peer for the session and drops its
// connections in every torrent; from, whose loop calls it, drops them at
// once.
func (c *Client) banAddr(peer netip.AddrPort, why error, from *Torrent) {
	a := peer.Addr()
	from.dropAddr(a, why)
	if !c.guard.ban(a) {
		return
	}
	from.log.Warn("banning address", "peer", peer, "err", why)
	c.mu.Lock()
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	for _, t := range ts {
		if t != from {
			c.wg.Go(func() { t.do(func() { t.dropAddr(a, why) }) })
		}
	}
}
