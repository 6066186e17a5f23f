package dht

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Maintenance bounds and timings.
const (
	maxBackoff     = 5 * time.Minute // longest wait between bootstrap attempts
	pingsPerSecond = 32              // saved nodes pinged per maintenance round
	maxRouters     = 8               // bootstrap addresses used per lookup
	resolveTimeout = 5 * time.Second
)

// maintain runs once a second on the loop: token secrets, peer expiry,
// pings of saved and questionable nodes, bootstrap and bucket refresh.
func (n *Node) maintain(now time.Time) {
	n.tokens.rotate(now)
	if now.Sub(n.lastExpire) >= time.Minute {
		n.lastExpire = now
		n.store.expire(now)
	}
	for i := 0; i < pingsPerSecond && len(n.startPings) > 0 && len(n.pending) < maxPending/2; i++ {
		n.ping(n.startPings[0], now)
		n.startPings = n.startPings[1:]
	}
	for _, a := range n.table.toPing(now, bucketSize) {
		n.ping(a, now)
	}
	if n.bg {
		return
	}
	if n.countGood(now) < bucketSize {
		if now.Before(n.nextBootstrap) {
			return
		}
		seeds := n.table.closest(n.id, nil, 2*bucketSize, netip.AddrPort{})
		if len(seeds) > 0 || len(n.routers) > 0 {
			n.background(n.id, seeds, true)
		}
		return
	}
	if target, ok := n.table.stale(now); ok {
		n.background(target, n.table.closest(target, nil, 2*bucketSize, netip.AddrPort{}), false)
	}
}

func (n *Node) countGood(now time.Time) int {
	c := 0
	for bi := range n.table.buckets {
		for ei := range n.table.buckets[bi].nodes {
			if n.table.buckets[bi].nodes[ei].good(now) {
				c++
			}
		}
	}
	return c
}

// background starts a find_node lookup for target: a bootstrap (our own
// id, with the routers) or a bucket refresh. One runs at a time.
func (n *Node) background(target [20]byte, seeds []nodeInfo, bootstrap bool) {
	n.bg = true
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, lookupTimeout)
		defer cancel()
		l := newLookup(n, qFindNode, target)
		for _, s := range seeds {
			l.add(s, true)
		}
		if bootstrap {
			for _, a := range n.resolveRouters(ctx) {
				l.add(nodeInfo{addr: a}, false)
			}
		}
		err := l.run(ctx, nil)
		n.log.Debug("dht: lookup", "bootstrap", bootstrap, "target", target, "answered", l.answered, "err", err)
		n.do(n.ctx, func() { n.backgroundDone(bootstrap, time.Now()) })
	}()
}

// backgroundDone schedules the next bootstrap with exponential back-off
// while the table has fewer than k good nodes.
func (n *Node) backgroundDone(bootstrap bool, now time.Time) {
	n.bg = false
	if !bootstrap {
		return
	}
	if n.countGood(now) >= bucketSize {
		n.backoff = time.Second
		return
	}
	n.nextBootstrap = now.Add(n.backoff)
	n.backoff = min(2*n.backoff, maxBackoff)
}

// resolveRouters returns the addresses of the bootstrap routers; names
// are resolved (IPv4) under ctx.
func (n *Node) resolveRouters(ctx context.Context) []netip.AddrPort {
	var out []netip.AddrPort
	for _, r := range n.routers {
		if len(out) >= maxRouters {
			break
		}
		if ap, err := netip.ParseAddrPort(r); err == nil {
			if ap = unmap(ap); ap.Port() != 0 && ap.Addr().Is4() {
				out = append(out, ap)
			}
			continue
		}
		host, port, err := net.SplitHostPort(r)
		p, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || perr != nil || p == 0 {
			n.log.Warn("dht: bad bootstrap address", "addr", r)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip4", host)
		cancel()
		if err != nil {
			n.log.Debug("dht: resolve bootstrap", "addr", r, "err", err)
			continue
		}
		for _, ip := range ips[:min(len(ips), 2)] {
			out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(p)))
		}
	}
	return out
}
