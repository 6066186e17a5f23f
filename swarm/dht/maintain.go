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
// Each family Conn can use has its own table, bootstrap schedule and
// back-off; one background lookup runs at a time.
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
	for _, t := range n.tables {
		for _, a := range t.toPing(now, bucketSize) {
			n.ping(a, now)
		}
	}
	if n.bg {
		return
	}
	var boot, sparse famSet // families due for a bootstrap; with fewer than k good nodes
	for f := range numFams {
		if n.fams.has(f) && n.countGood(f, now) < bucketSize {
			sparse |= 1 << f
			if !now.Before(n.nextBootstrap[f]) {
				boot |= 1 << f
			}
		}
	}
	if boot != 0 {
		// The lookup runs in every family: answers over one name nodes
		// of the other (BEP 32 "want"), which may fill the sparse table.
		seeds, _ := n.seeds(n.id, n.fams)
		if len(seeds) > 0 || len(n.routers) > 0 {
			n.background(n.id, seeds, n.fams, boot)
		}
		return
	}
	for f := range numFams {
		if !n.fams.has(f) || sparse.has(f) {
			continue
		}
		if target, ok := n.tables[f].stale(now); ok {
			seeds, _ := n.seeds(target, 1<<f)
			n.background(target, seeds, 1<<f, 0)
			return
		}
	}
}

// countGood returns the number of good nodes in the table of family f.
func (n *Node) countGood(f family, now time.Time) int {
	c := 0
	t := n.tables[f]
	for bi := range t.buckets {
		for ei := range t.buckets[bi].nodes {
			if t.buckets[bi].nodes[ei].good(now) {
				c++
			}
		}
	}
	return c
}

// background starts a find_node lookup for target in the families fams:
// a bootstrap of the families boot (our own id, with the routers of
// those families) or, boot empty, a bucket refresh. One runs at a time.
func (n *Node) background(target [20]byte, seeds []nodeInfo, fams, boot famSet) {
	n.bg = true
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, lookupTimeout)
		defer cancel()
		l := newLookup(n, qFindNode, target, fams)
		for _, s := range seeds {
			l.add(s, true)
		}
		if boot != 0 {
			for _, a := range n.resolveRouters(ctx, boot) {
				l.add(nodeInfo{addr: a}, false)
			}
		}
		err := l.run(ctx, nil)
		n.log.Debug("dht: lookup", "bootstrap", boot != 0, "target", target, "answered", l.answered, "err", err)
		n.do(n.ctx, func() { n.backgroundDone(boot, time.Now()) })
	}()
}

// backgroundDone schedules the next bootstrap of each family in boot with
// exponential back-off while its table has fewer than k good nodes.
func (n *Node) backgroundDone(boot famSet, now time.Time) {
	n.bg = false
	for f := range numFams {
		if !boot.has(f) {
			continue
		}
		if n.countGood(f, now) >= bucketSize {
			n.backoff[f] = time.Second
			continue
		}
		n.nextBootstrap[f] = now.Add(n.backoff[f])
		n.backoff[f] = min(2*n.backoff[f], maxBackoff)
	}
}

// resolveRouters returns the addresses of the bootstrap routers of the
// families in fams that Conn can use; names are resolved under ctx, to at
// most 2 addresses of each family.
func (n *Node) resolveRouters(ctx context.Context, fams famSet) []netip.AddrPort {
	fams &= n.fams
	network := "ip"
	switch fams {
	case 0:
		return nil
	case set4:
		network = "ip4"
	case set6:
		network = "ip6"
	}
	var out []netip.AddrPort
	for _, r := range n.routers {
		if len(out) >= maxRouters {
			break
		}
		if ap, err := netip.ParseAddrPort(r); err == nil {
			if ap = unmap(ap); ap.Port() != 0 && fams.hasAddr(ap.Addr()) && ap.Addr().Zone() == "" {
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
		ips, err := net.DefaultResolver.LookupNetIP(rctx, network, host)
		cancel()
		if err != nil {
			n.log.Debug("dht: resolve bootstrap", "addr", r, "err", err)
			continue
		}
		var taken [numFams]int
		for _, ip := range ips {
			ip = ip.Unmap()
			if f := familyOf(ip); fams.has(f) && taken[f] < 2 && ip.Zone() == "" {
				taken[f]++
				out = append(out, netip.AddrPortFrom(ip, uint16(p)))
			}
		}
	}
	return out
}
