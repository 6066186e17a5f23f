package dht

import (
	"math/bits"
	"net/netip"
	"time"
)

// entry is a node of the routing table. Every entry has answered one of
// our queries at least once.
type entry struct {
	id        [20]byte
	addr      netip.AddrPort
	lastReply time.Time // last response to one of our queries
	lastQuery time.Time // last query it sent us
	lastPing  time.Time // last liveness ping we sent it
	fails     int       // consecutive timeouts
}

// good: it answered within 15 minutes, or answered once and queried us
// within 15 minutes, and has not timed out since.
func (e *entry) good(now time.Time) bool {
	return e.fails == 0 && (now.Sub(e.lastReply) < goodFor || now.Sub(e.lastQuery) < goodFor)
}

func (e *entry) bad() bool { return e.fails >= badFails }

// bucket holds up to k nodes and up to k replacement candidates that
// answered while the bucket was full (most recent last).
type bucket struct {
	nodes   []entry
	spare   []entry
	changed time.Time // last insertion, replacement or answer of a node
}

func (b *bucket) find(id [20]byte) int {
	for i := range b.nodes {
		if b.nodes[i].id == id {
			return i
		}
	}
	return -1
}

func commonPrefixLen(a, b [20]byte) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return 160
}

// closer reports whether a is closer to target than b by XOR distance.
func closer(target, a, b *[20]byte) bool {
	for i := range target {
		if da, db := a[i]^target[i], b[i]^target[i]; da != db {
			return da < db
		}
	}
	return false
}

// worst returns the index of a bad node with the most failures, or -1.
func worst(nodes []entry) int {
	w := -1
	for i := range nodes {
		if nodes[i].bad() && (w < 0 || nodes[i].fails > nodes[w].fails) {
			w = i
		}
	}
	return w
}

func dropID(es []entry, id [20]byte) []entry {
	for i := range es {
		if es[i].id == id {
			return append(es[:i], es[i+1:]...)
		}
	}
	return es
}
