package dht

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"time"
)

// Lookup bounds.
const (
	alpha         = 3                // queries in flight
	maxVisit      = 200              // nodes queried by one lookup
	maxCands      = 4 * bucketSize   // closest candidates kept (plus those awaited)
	maxSeen       = 2000             // addresses remembered as already candidates
	maxFound      = 2000             // distinct peers reported by one lookup
	lookupTimeout = 15 * time.Second // cap of a lookup, whatever the caller's ctx
)

type candState uint8

const (
	fresh candState = iota
	asked
	answered
	failed
)

type cand struct {
	nodeInfo
	known bool // id known: false for bootstrap addresses until they answer
	state candState
	token []byte
}

// lookup is one iterative find_node or get_peers search (BEP 5): the
// closest candidates by XOR distance are queried, alpha at a time, until
// the k closest that did not fail have all answered. It runs on its
// caller's goroutine and talks to the loop through Node.query.
type lookup struct {
	n        *Node
	method   string
	target   [20]byte
	cands    []cand // unknown ids first, then by distance to target
	seen     map[netip.AddrPort]struct{}
	found    map[netip.AddrPort]struct{}
	resC     chan reply
	visited  int
	inflight int
	answered int
}

func newLookup(n *Node, method string, target [20]byte) *lookup {
	return &lookup{
		n: n, method: method, target: target,
		seen:  make(map[netip.AddrPort]struct{}),
		found: make(map[netip.AddrPort]struct{}),
		resC:  make(chan reply, 2*alpha),
	}
}

func (l *lookup) less(a, b *cand) bool {
	if a.known != b.known {
		return !a.known
	}
	return a.known && closer(&l.target, &a.id, &b.id)
}

// add makes c a candidate unless it is us, already seen, or farther than
// the maxCands closest.
func (l *lookup) add(c nodeInfo, known bool) {
	if known && c.id == l.n.id || l.n.isSelf(c.addr) || len(l.seen) >= maxSeen {
		return
	}
	if _, ok := l.seen[c.addr]; ok {
		return
	}
	nc := cand{nodeInfo: c, known: known}
	pos := len(l.cands)
	for pos > 0 && l.less(&nc, &l.cands[pos-1]) {
		pos--
	}
	if pos >= maxCands {
		return
	}
	l.seen[c.addr] = struct{}{}
	l.cands = slices.Insert(l.cands, pos, nc)
	if len(l.cands) > maxCands {
		l.trim()
	}
}

// trim drops the farthest candidate not awaited, preferring one that
// never answered, so that the tokens of the closest answers are kept.
func (l *lookup) trim() {
	drop := -1
	for i := len(l.cands) - 1; i >= 0 && drop < 0; i-- {
		if s := l.cands[i].state; s == fresh || s == failed {
			drop = i
		}
	}
	for i := len(l.cands) - 1; i >= 0 && drop < 0; i-- {
		if l.cands[i].state == answered {
			drop = i
		}
	}
	if drop >= 0 {
		l.cands = slices.Delete(l.cands, drop, drop+1)
	}
}

// next returns the closest candidate to query, or nil when the k closest
// that did not fail have all been asked.
func (l *lookup) next() *cand {
	k := 0
	for i := range l.cands {
		c := &l.cands[i]
		if c.state == failed {
			continue
		}
		if k++; k > bucketSize {
			return nil
		}
		if c.state == fresh {
			return c
		}
	}
	return nil
}

func (l *lookup) run(ctx context.Context, found func([]netip.AddrPort)) error {
	for {
		for l.inflight < alpha && l.visited < maxVisit {
			c := l.next()
			if c == nil {
				break
			}
			c.state = asked
			l.visited++
			q := &query{method: l.method, target: l.target}
			if err := l.n.query(ctx, c.addr, q, l.resC); err != nil {
				if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					return err
				}
				c.state = failed
				continue
			}
			l.inflight++
		}
		if l.inflight == 0 {
			return nil
		}
		select {
		case r := <-l.resC:
			l.inflight--
			l.handle(r, found)
		case <-ctx.Done():
			return ctx.Err()
		case <-l.n.quit:
			return errClosed
		}
	}
}

func (l *lookup) handle(r reply, found func([]netip.AddrPort)) {
	i := slices.IndexFunc(l.cands, func(c cand) bool { return c.addr == r.addr && c.state == asked })
	if i < 0 {
		return
	}
	c := &l.cands[i]
	if r.err != nil {
		c.state = failed
		return
	}
	c.state, c.token = answered, r.token
	l.answered++
	if !c.known || c.id != r.id {
		c.id, c.known = r.id, true
		slices.SortStableFunc(l.cands, func(a, b cand) int {
			if l.less(&a, &b) {
				return -1
			}
			if l.less(&b, &a) {
				return 1
			}
			return 0
		})
	}
	for _, ni := range r.nodes {
		l.add(ni, true)
	}
	if found != nil {
		l.report(r.values, found)
	}
}

// report passes the peers not reported before to found.
func (l *lookup) report(values []netip.AddrPort, found func([]netip.AddrPort)) {
	var batch []netip.AddrPort
	for _, v := range values {
		if _, dup := l.found[v]; dup || len(l.found) >= maxFound {
			continue
		}
		l.found[v] = struct{}{}
		batch = append(batch, v)
	}
	if len(batch) > 0 {
		found(batch)
	}
}
