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
	alpha         = 3                // queries in flight, per family
	maxVisit      = 200              // nodes queried by one lookup, per family
	maxCands      = 4 * bucketSize   // closest candidates kept per family (plus those awaited)
	maxSeen       = 2000             // addresses remembered as already candidates, per family
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

// lookup is one iterative find_node or get_peers search (BEP 5) in the
// DHT of each family in fams (BEP 32): in each, the closest candidates by
// XOR distance are queried, alpha at a time, until the k closest that
// did not fail have all answered. Nodes of either family named in any
// answer become candidates of their family's search, so an answer over
// IPv4 can feed the IPv6 search. It runs on its caller's goroutine and
// talks to the loop through Node.query.
type lookup struct {
	n        *Node
	method   string
	target   [20]byte
	fams     famSet
	sides    [numFams]side
	found    map[netip.AddrPort]struct{}
	resC     chan reply
	answered int
}

// side is the part of a lookup in one family's DHT.
type side struct {
	cands    []cand // unknown ids first, then by distance to target
	seen     map[netip.AddrPort]struct{}
	visited  int
	inflight int
}

func newLookup(n *Node, method string, target [20]byte, fams famSet) *lookup {
	l := &lookup{
		n: n, method: method, target: target, fams: fams & n.fams,
		found: make(map[netip.AddrPort]struct{}),
		resC:  make(chan reply, int(numFams)*alpha),
	}
	for f := range l.sides {
		l.sides[f].seen = make(map[netip.AddrPort]struct{})
	}
	return l
}

func (l *lookup) less(a, b *cand) bool {
	if a.known != b.known {
		return !a.known
	}
	return a.known && closer(&l.target, &a.id, &b.id)
}

// empty reports whether the lookup has no candidate at all.
func (l *lookup) empty() bool {
	for f := range l.sides {
		if len(l.sides[f].cands) > 0 {
			return false
		}
	}
	return true
}

func (l *lookup) inflight() int {
	n := 0
	for f := range l.sides {
		n += l.sides[f].inflight
	}
	return n
}

// add makes c a candidate of its family's search unless the lookup does
// not search that family, or c is us, already seen, or farther than the
// maxCands closest.
func (l *lookup) add(c nodeInfo, known bool) {
	f := familyOf(c.addr.Addr())
	if !l.fams.has(f) {
		return
	}
	s := &l.sides[f]
	if known && c.id == l.n.id || l.n.isSelf(c.addr) || len(s.seen) >= maxSeen {
		return
	}
	if _, ok := s.seen[c.addr]; ok {
		return
	}
	nc := cand{nodeInfo: c, known: known}
	pos := len(s.cands)
	for pos > 0 && l.less(&nc, &s.cands[pos-1]) {
		pos--
	}
	if pos >= maxCands {
		return
	}
	s.seen[c.addr] = struct{}{}
	s.cands = slices.Insert(s.cands, pos, nc)
	if len(s.cands) > maxCands {
		s.trim()
	}
}

// trim drops the farthest candidate not awaited, preferring one that
// never answered, so that the tokens of the closest answers are kept.
func (s *side) trim() {
	drop := -1
	for i := len(s.cands) - 1; i >= 0 && drop < 0; i-- {
		if st := s.cands[i].state; st == fresh || st == failed {
			drop = i
		}
	}
	for i := len(s.cands) - 1; i >= 0 && drop < 0; i-- {
		if s.cands[i].state == answered {
			drop = i
		}
	}
	if drop >= 0 {
		s.cands = slices.Delete(s.cands, drop, drop+1)
	}
}

// next returns the closest candidate to query, or nil when the k closest
// that did not fail have all been asked.
func (s *side) next() *cand {
	k := 0
	for i := range s.cands {
		c := &s.cands[i]
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
		for f := range l.sides {
			if err := l.fill(ctx, &l.sides[f]); err != nil {
				return err
			}
		}
		if l.inflight() == 0 {
			return nil
		}
		select {
		case r := <-l.resC:
			l.handle(r, found)
		case <-ctx.Done():
			return ctx.Err()
		case <-l.n.quit:
			return errClosed
		}
	}
}

// fill sends queries to the closest fresh candidates of s while fewer
// than alpha are in flight.
func (l *lookup) fill(ctx context.Context, s *side) error {
	for s.inflight < alpha && s.visited < maxVisit {
		c := s.next()
		if c == nil {
			return nil
		}
		c.state = asked
		s.visited++
		q := &query{method: l.method, target: l.target, want: l.fams}
		if err := l.n.query(ctx, c.addr, q, l.resC); err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return err
			}
			c.state = failed
			continue
		}
		s.inflight++
	}
	return nil
}

func (l *lookup) handle(r reply, found func([]netip.AddrPort)) {
	f := familyOf(r.addr.Addr())
	if !l.fams.has(f) {
		return
	}
	s := &l.sides[f]
	s.inflight--
	i := slices.IndexFunc(s.cands, func(c cand) bool { return c.addr == r.addr && c.state == asked })
	if i < 0 {
		return
	}
	c := &s.cands[i]
	if r.err != nil {
		c.state = failed
		return
	}
	c.state, c.token = answered, r.token
	l.answered++
	if !c.known || c.id != r.id {
		c.id, c.known = r.id, true
		slices.SortStableFunc(s.cands, func(a, b cand) int {
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
	for _, ni := range r.nodes6 {
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
