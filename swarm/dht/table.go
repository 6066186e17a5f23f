package dht

import (
	"crypto/rand"
	"net/netip"
	"time"
)

// Routing table bounds and timings (BEP 5).
const (
	bucketSize  = 8                // k: nodes per bucket, and replacements
	maxBuckets  = 160              // one per bit of the id space
	goodFor     = 15 * time.Minute // a node is good this long after activity
	badFails    = 2                // consecutive timeouts that make a node bad
	dropFails   = 4                // ... that remove it even without replacement
	repingAfter = time.Minute      // least time between liveness pings of a node
)

// table is the routing table: bucket i holds the ids sharing exactly i
// leading bits with ours, and the last bucket every id sharing at least
// as many. Only the last bucket (the one holding our own id) splits, so
// at most 160 buckets of 2k entries exist. It is owned by the node's loop.
type table struct {
	self    [20]byte
	buckets []bucket
	addrs   map[netip.AddrPort][20]byte // ids of bucket nodes by address
}

func newTable(self [20]byte, now time.Time) *table {
	return &table{
		self:    self,
		buckets: []bucket{{changed: now}},
		addrs:   make(map[netip.AddrPort][20]byte),
	}
}

func (t *table) index(id [20]byte) int {
	return min(commonPrefixLen(t.self, id), len(t.buckets)-1)
}

// size is the number of nodes in buckets, replacements not counted.
func (t *table) size() int { return len(t.addrs) }

// replied records that node id at addr answered one of our queries:
// it is refreshed, inserted, or kept as a replacement candidate.
func (t *table) replied(id [20]byte, addr netip.AddrPort, now time.Time) {
	if id == t.self || addr.Port() == 0 {
		return
	}
	if old, ok := t.addrs[addr]; ok && old != id {
		t.remove(old) // the address answers with a new id: it restarted
	}
	for {
		bi := t.index(id)
		b := &t.buckets[bi]
		if i := b.find(id); i >= 0 {
			e := &b.nodes[i]
			if e.addr != addr {
				if !e.bad() {
					return // an id is no proof: keep the address we know
				}
				delete(t.addrs, e.addr)
				e.addr = addr
				t.addrs[addr] = id
			}
			e.lastReply, e.fails, b.changed = now, 0, now
			return
		}
		fresh := entry{id: id, addr: addr, lastReply: now}
		b.spare = dropID(b.spare, id)
		switch {
		case len(b.nodes) < bucketSize:
			b.nodes = append(b.nodes, fresh)
		case bi == len(t.buckets)-1 && len(t.buckets) < maxBuckets:
			t.split()
			continue
		default:
			i := worst(b.nodes)
			if i < 0 {
				if len(b.spare) == bucketSize {
					b.spare = append(b.spare[:0], b.spare[1:]...)
				}
				b.spare = append(b.spare, fresh)
				return
			}
			delete(t.addrs, b.nodes[i].addr)
			b.nodes[i] = fresh
		}
		t.addrs[addr] = id
		b.changed = now
		return
	}
}

// split divides the last bucket: nodes sharing more leading bits with
// our id than its index move to a new last bucket.
func (t *table) split() {
	last := len(t.buckets) - 1
	t.buckets = append(t.buckets, bucket{changed: t.buckets[last].changed})
	old, nb := &t.buckets[last], &t.buckets[last+1]
	move := func(es []entry) (keep, moved []entry) {
		keep = es[:0]
		for _, e := range es {
			if commonPrefixLen(t.self, e.id) > last {
				moved = append(moved, e)
			} else {
				keep = append(keep, e)
			}
		}
		return keep, moved
	}
	old.nodes, nb.nodes = move(old.nodes)
	old.spare, nb.spare = move(old.spare)
}

// remove deletes node id, promoting the newest usable replacement.
func (t *table) remove(id [20]byte) {
	b := &t.buckets[t.index(id)]
	i := b.find(id)
	if i < 0 {
		return
	}
	delete(t.addrs, b.nodes[i].addr)
	b.nodes = append(b.nodes[:i], b.nodes[i+1:]...)
	for len(b.spare) > 0 {
		s := b.spare[len(b.spare)-1]
		b.spare = b.spare[:len(b.spare)-1]
		if _, taken := t.addrs[s.addr]; !taken {
			b.nodes = append(b.nodes, s)
			t.addrs[s.addr] = s.id
			return
		}
	}
}

// queried records a query from node id at addr and reports whether the
// node is in the table.
func (t *table) queried(id [20]byte, addr netip.AddrPort, now time.Time) bool {
	if known, ok := t.addrs[addr]; !ok || known != id {
		return false
	}
	b := &t.buckets[t.index(id)]
	if i := b.find(id); i >= 0 {
		b.nodes[i].lastQuery = now
	}
	return true
}

// failed records that the node at addr did not answer in time. A bad
// node gives way to a replacement if one waits, and is dropped after
// dropFails timeouts in a row.
func (t *table) failed(addr netip.AddrPort) {
	id, ok := t.addrs[addr]
	if !ok {
		return
	}
	b := &t.buckets[t.index(id)]
	i := b.find(id)
	if i < 0 {
		return
	}
	b.nodes[i].fails++
	if e := b.nodes[i]; e.bad() && len(b.spare) > 0 || e.fails >= dropFails {
		t.remove(id)
	}
}

// accepts reports whether an answer from node id would put it in a
// bucket (room, a split, or a node that is not good) — used to decide
// whether a node that queried us is worth a ping.
func (t *table) accepts(id [20]byte, now time.Time) bool {
	if id == t.self {
		return false
	}
	bi := t.index(id)
	b := &t.buckets[bi]
	if len(b.nodes) < bucketSize || bi == len(t.buckets)-1 && len(t.buckets) < maxBuckets {
		return true
	}
	for i := range b.nodes {
		if !b.nodes[i].good(now) {
			return true
		}
	}
	return false
}

// closest fills dst with up to n nodes that are not bad, closest to
// target first, and returns it. The node at except (the querier) is left
// out.
func (t *table) closest(target [20]byte, dst []nodeInfo, n int, except netip.AddrPort) []nodeInfo {
	dst = dst[:0]
	for bi := range t.buckets {
		for ei := range t.buckets[bi].nodes {
			e := &t.buckets[bi].nodes[ei]
			if e.bad() || e.addr == except || len(dst) == n && !closer(&target, &e.id, &dst[n-1].id) {
				continue
			}
			if len(dst) < n {
				dst = append(dst, nodeInfo{})
			}
			i := len(dst) - 1
			for ; i > 0 && closer(&target, &e.id, &dst[i-1].id); i-- {
				dst[i] = dst[i-1]
			}
			dst[i] = nodeInfo{id: e.id, addr: e.addr}
		}
	}
	return dst
}

// good returns the addresses of the good nodes.
func (t *table) good(now time.Time) []netip.AddrPort {
	var out []netip.AddrPort
	for bi := range t.buckets {
		for ei := range t.buckets[bi].nodes {
			if e := &t.buckets[bi].nodes[ei]; e.good(now) {
				out = append(out, e.addr)
			}
		}
	}
	return out
}

// toPing returns up to max nodes that are not good and were not pinged
// for a minute, and marks them pinged.
func (t *table) toPing(now time.Time, max int) []netip.AddrPort {
	var out []netip.AddrPort
	for bi := range t.buckets {
		for ei := range t.buckets[bi].nodes {
			e := &t.buckets[bi].nodes[ei]
			if len(out) < max && !e.good(now) && now.Sub(e.lastPing) >= repingAfter {
				e.lastPing = now
				out = append(out, e.addr)
			}
		}
	}
	return out
}

// stale returns a random id in the range of a bucket that has not
// changed for 15 minutes, and marks that bucket changed.
func (t *table) stale(now time.Time) ([20]byte, bool) {
	for bi := range t.buckets {
		if b := &t.buckets[bi]; now.Sub(b.changed) >= goodFor {
			b.changed = now
			return t.randomIn(bi), true
		}
	}
	return [20]byte{}, false
}

// randomIn returns a random id that falls in bucket bi.
func (t *table) randomIn(bi int) [20]byte {
	var id [20]byte
	rand.Read(id[:])
	for p := 0; p <= bi && p < 160; p++ {
		mask := byte(0x80) >> (p % 8)
		bit := t.self[p/8] & mask
		if p == bi {
			if bi == len(t.buckets)-1 {
				break // the last bucket also holds longer prefixes
			}
			bit ^= mask
		}
		id[p/8] = id[p/8]&^mask | bit
	}
	return id
}
