package dht

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Announce runs an iterative get_peers lookup for infoHash in the DHT of
// each address family Conn can use (IPv4, IPv6 or both, BEP 32; per
// family alpha = 3 queries in flight and at most 200 nodes; at most 15 s
// and ctx in all), calls found from the calling goroutine with each
// batch of new peers of either family (first those announced to this
// node), then, if port != 0, sends announce_peer (implied_port 0) to the
// 8 closest nodes of each family that answered with a token. It returns
// how many accepted the announce. When Conn is bound to a specific IP,
// (that IP, port) is also stored in the node's own peer store, and never
// reported to found.
func (n *Node) Announce(ctx context.Context, infoHash [20]byte, port uint16, found func([]netip.AddrPort)) (int, error) {
	if found == nil {
		found = func([]netip.AddrPort) {}
	}
	var self netip.AddrPort
	if ip := n.addr.Addr(); port != 0 && ip.IsValid() && !ip.IsUnspecified() {
		self = netip.AddrPortFrom(ip, port)
	}
	var seeds []nodeInfo
	var local []netip.AddrPort
	var sparse famSet // families with fewer than k nodes to start from
	err := n.do(ctx, func() {
		now := time.Now()
		if self.IsValid() {
			n.store.add(infoHash, self, now)
		}
		seeds, sparse = n.seeds(infoHash, n.fams)
		local = n.store.peers(infoHash, now, maxValuesIn, n.fams, nil)
	})
	if err != nil {
		return 0, fmt.Errorf("dht: announce %x: %w", infoHash, err)
	}
	l := newLookup(n, qGetPeers, infoHash, n.fams)
	if self.IsValid() {
		l.found[self] = struct{}{}
	}
	l.report(local, found)
	for _, s := range seeds {
		l.add(s, true)
	}
	if sparse != 0 {
		for _, a := range n.resolveRouters(ctx, sparse) {
			l.add(nodeInfo{addr: a}, false)
		}
	}
	if l.empty() {
		return 0, fmt.Errorf("dht: announce %x: no node to ask", infoHash)
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	err = l.run(lctx, found)
	cancel()
	switch {
	case ctx.Err() != nil:
		return 0, fmt.Errorf("dht: announce %x: %w", infoHash, ctx.Err())
	case errors.Is(err, net.ErrClosed):
		return 0, fmt.Errorf("dht: announce %x: %w", infoHash, err)
	case l.answered == 0:
		return 0, fmt.Errorf("dht: announce %x: no node answered", infoHash)
	case port == 0:
		return 0, nil
	}
	return l.announce(ctx, port)
}

// seeds returns the 2k nodes closest to target of each family in fams,
// and the families of which fewer than k are known. It runs on the loop.
func (n *Node) seeds(target [20]byte, fams famSet) (seeds []nodeInfo, sparse famSet) {
	for f := range numFams {
		if !fams.has(f) {
			continue
		}
		before := len(seeds)
		seeds = append(seeds, n.tables[f].closest(target, nil, 2*bucketSize, netip.AddrPort{})...)
		if len(seeds)-before < bucketSize {
			sparse |= 1 << f
		}
	}
	return seeds, sparse
}

// announce sends announce_peer to the 8 closest candidates of each
// family that answered with a token and counts the acceptances.
func (l *lookup) announce(ctx context.Context, port uint16) (int, error) {
	resC := make(chan reply, int(numFams)*bucketSize)
	sent := 0
	for f := range l.sides {
		cands, sentF := l.sides[f].cands, 0
		for i := 0; i < len(cands) && sentF < bucketSize; i++ {
			c := &cands[i]
			if c.state != answered || len(c.token) == 0 {
				continue
			}
			q := &query{method: qAnnouncePeer, target: l.target, port: port, token: c.token}
			if err := l.n.query(ctx, c.addr, q, resC); err != nil {
				if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					return 0, fmt.Errorf("dht: announce %x: %w", l.target, err)
				}
				continue
			}
			sentF++
		}
		sent += sentF
	}
	ok := 0
	for ; sent > 0; sent-- {
		select {
		case r := <-resC:
			if r.err == nil {
				ok++
			}
		case <-ctx.Done():
			return ok, fmt.Errorf("dht: announce %x: %w", l.target, ctx.Err())
		case <-l.n.quit:
			return ok, fmt.Errorf("dht: announce %x: %w", l.target, errClosed)
		}
	}
	return ok, nil
}
