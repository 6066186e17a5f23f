package dht

import (
	"net/netip"
	"testing"
	"time"
)

// withPrefix returns an id sharing exactly cpl leading bits with self
// (then differing), its last byte set to x.
func withPrefix(self [20]byte, cpl int, x byte) [20]byte {
	id := self
	id[cpl/8] ^= 0x80 >> (cpl % 8)
	for p := cpl + 1; p < 152; p++ {
		id[p/8] &^= 0x80 >> (p % 8)
	}
	id[19] = x
	return id
}

func addrN(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 6881)
}

func checkTable(t *testing.T, tb *table) {
	t.Helper()
	n := 0
	for bi, b := range tb.buckets {
		if len(b.nodes) > bucketSize || len(b.spare) > bucketSize {
			t.Fatalf("bucket %d holds %d nodes, %d spares", bi, len(b.nodes), len(b.spare))
		}
		for _, e := range b.nodes {
			if tb.index(e.id) != bi {
				t.Fatalf("node %x in bucket %d, belongs in %d", e.id[:2], bi, tb.index(e.id))
			}
			if tb.addrs[e.addr] != e.id {
				t.Fatalf("address index out of step for %v", e.addr)
			}
			n++
		}
	}
	if n != len(tb.addrs) {
		t.Fatalf("%d nodes, %d addresses indexed", n, len(tb.addrs))
	}
}

func TestTableInsertSplit(t *testing.T) {
	now := time.Now()
	self := idOf(0x55, 0x55)
	tb := newTable(self, now)
	// Far nodes (first bit differs) fill bucket 0; the ninth goes spare.
	for i := range bucketSize + 1 {
		tb.replied(withPrefix(self, 0, byte(i)), addrN(i), now)
		checkTable(t, tb)
	}
	if len(tb.buckets) != 2 || len(tb.buckets[0].nodes) != bucketSize || len(tb.buckets[0].spare) != 1 {
		t.Fatalf("after 9 far nodes: %d buckets, bucket 0 has %d nodes, %d spares",
			len(tb.buckets), len(tb.buckets[0].nodes), len(tb.buckets[0].spare))
	}
	// Nodes ever closer to us split the own bucket again and again.
	for cpl := 1; cpl < 40; cpl++ {
		for j := range 3 {
			tb.replied(withPrefix(self, cpl, byte(j)), addrN(100+cpl*3+j), now)
		}
	}
	checkTable(t, tb)
	if got := len(tb.buckets); got < 30 {
		t.Errorf("%d buckets after close nodes, want the own bucket split repeatedly", got)
	}
	// Only the last bucket splits: far buckets never exceed k.
	for i := range 50 {
		tb.replied(withPrefix(self, 1, byte(100+i)), addrN(1000+i), now)
	}
	checkTable(t, tb)
	// Refreshing an existing node keeps one entry.
	size := tb.size()
	tb.replied(withPrefix(self, 0, 0), addrN(0), now.Add(time.Second))
	if tb.size() != size {
		t.Errorf("re-insertion changed the size %d -> %d", size, tb.size())
	}
}

func TestTableMaxBuckets(t *testing.T) {
	now := time.Now()
	self := idOf(0, 0)
	tb := newTable(self, now)
	for i := range 2000 { // random ids fill the far buckets
		var id [20]byte
		for j := range id {
			id[j] = byte(i*31 + j*i*7 + i>>3)
		}
		tb.replied(id, addrN(i), now)
	}
	for cpl := range 160 { // one id at every distance, down to the closest
		id := self
		id[cpl/8] ^= 0x80 >> (cpl % 8)
		tb.replied(id, addrN(3000+cpl), now)
	}
	checkTable(t, tb)
	if len(tb.buckets) > maxBuckets || tb.size() > maxBuckets*bucketSize {
		t.Errorf("%d buckets, %d nodes", len(tb.buckets), tb.size())
	}
}

func TestTableRejects(t *testing.T) {
	now := time.Now()
	self := idOf(1, 1)
	tb := newTable(self, now)
	tb.replied(self, addrN(1), now)
	tb.replied(idOf(2, 2), netip.AddrPortFrom(addrN(2).Addr(), 0), now)
	if tb.size() != 0 {
		t.Fatalf("own id or port 0 inserted: size %d", tb.size())
	}
	if tb.accepts(self, now) {
		t.Error("accepts our own id")
	}
	// A known good id answering from another address keeps its address.
	tb.replied(idOf(3, 3), addrN(3), now)
	tb.replied(idOf(3, 3), addrN(4), now)
	if _, ok := tb.addrs[addrN(4)]; ok || tb.size() != 1 {
		t.Error("a good node's address was taken over")
	}
	// An address answering with a new id replaces the old id.
	tb.replied(idOf(5, 5), addrN(3), now)
	if tb.addrs[addrN(3)] != idOf(5, 5) || tb.size() != 1 {
		t.Errorf("restarted node: %v", tb.addrs)
	}
}

func TestTableStatesAndReplacement(t *testing.T) {
	now := time.Now()
	self := idOf(0x55, 0x55)
	tb := newTable(self, now)
	// Fill bucket 0 and the own bucket so that bucket 0 cannot split.
	for i := range bucketSize {
		tb.replied(withPrefix(self, 0, byte(i)), addrN(i), now)
		tb.replied(withPrefix(self, 5, byte(i)), addrN(50+i), now)
	}
	tb.replied(withPrefix(self, 0, 99), addrN(99), now)
	b := &tb.buckets[0]
	if len(b.nodes) != bucketSize || len(b.spare) != 1 {
		t.Fatalf("bucket 0: %d nodes, %d spares", len(b.nodes), len(b.spare))
	}
	e := &b.nodes[0]
	if !e.good(now) || e.good(now.Add(goodFor)) {
		t.Error("good for 15 minutes after an answer")
	}
	e.lastQuery = now.Add(goodFor)
	if !e.good(now.Add(goodFor + time.Minute)) {
		t.Error("a node that answered once and queried us recently is good")
	}
	if tb.accepts(withPrefix(self, 0, 77), now) {
		t.Error("a bucket of good nodes accepts more")
	}
	// One timeout: questionable; two: bad, and the spare takes its place.
	tb.failed(addrN(0))
	if e := b.nodes[0]; e.good(now) || e.bad() {
		t.Error("one timeout should make a node questionable")
	}
	if !tb.accepts(withPrefix(self, 0, 77), now) {
		t.Error("a bucket with a questionable node should accept")
	}
	tb.failed(addrN(0))
	checkTable(t, tb)
	if _, ok := tb.addrs[addrN(0)]; ok {
		t.Error("bad node not replaced")
	}
	if _, ok := tb.addrs[addrN(99)]; !ok || len(b.spare) != 0 {
		t.Error("replacement not promoted")
	}
	// Without a spare, a bad node stays (excluded from answers) until
	// dropFails timeouts, or until a new node takes its place.
	for range badFails {
		tb.failed(addrN(1))
	}
	if _, ok := tb.addrs[addrN(1)]; !ok {
		t.Fatal("bad node without replacement removed early")
	}
	for _, c := range tb.closest(withPrefix(self, 0, 1), nil, 20, netip.AddrPort{}) {
		if c.addr == addrN(1) {
			t.Error("bad node returned by closest")
		}
	}
	tb.replied(withPrefix(self, 0, 88), addrN(88), now)
	if _, ok := tb.addrs[addrN(1)]; ok {
		t.Error("bad node not replaced by a new one")
	}
	for range dropFails {
		tb.failed(addrN(2))
	}
	if _, ok := tb.addrs[addrN(2)]; ok {
		t.Errorf("node with %d timeouts kept", dropFails)
	}
	checkTable(t, tb)
	// Questionable nodes are pinged, at most once a minute.
	later := now.Add(goodFor)
	if got := tb.toPing(later, 100); len(got) != tb.size() {
		t.Errorf("toPing after 15 min: %d of %d", len(got), tb.size())
	}
	if got := tb.toPing(later.Add(time.Second), 100); len(got) != 0 {
		t.Errorf("pinged again within a minute: %d", len(got))
	}
}

func TestTableClosest(t *testing.T) {
	now := time.Now()
	tb := newTable(idOf(0, 0), now)
	for i := range 200 {
		tb.replied(idOf(byte(i), byte(i*7)), addrN(i), now)
	}
	target := idOf(0x80, 0x11)
	got := tb.closest(target, nil, bucketSize, netip.AddrPort{})
	if len(got) != bucketSize {
		t.Fatalf("%d nodes", len(got))
	}
	for i := 1; i < len(got); i++ {
		if closer(&target, &got[i].id, &got[i-1].id) {
			t.Errorf("not sorted at %d", i)
		}
	}
	// Nothing in the table is closer than the last one returned.
	for _, b := range tb.buckets {
		for _, e := range b.nodes {
			if closer(&target, &e.id, &got[len(got)-1].id) {
				found := false
				for _, g := range got {
					found = found || g.id == e.id
				}
				if !found {
					t.Errorf("closer node %x missing", e.id[:2])
				}
			}
		}
	}
}

func TestTableRefresh(t *testing.T) {
	now := time.Now()
	self := idOf(0x55, 0x55)
	tb := newTable(self, now)
	for cpl := range 6 {
		for j := range bucketSize {
			tb.replied(withPrefix(self, cpl, byte(j)), addrN(cpl*10+j), now)
		}
	}
	if _, ok := tb.stale(now.Add(time.Minute)); ok {
		t.Error("fresh buckets reported stale")
	}
	later := now.Add(goodFor)
	seen := map[int]bool{}
	for {
		target, ok := tb.stale(later)
		if !ok {
			break
		}
		bi := tb.index(target)
		if seen[bi] {
			t.Fatalf("bucket %d refreshed twice", bi)
		}
		seen[bi] = true
	}
	if len(seen) != len(tb.buckets) {
		t.Errorf("refreshed %d of %d buckets", len(seen), len(tb.buckets))
	}
	for bi := range tb.buckets {
		for range 20 {
			if got := tb.index(tb.randomIn(bi)); got != bi {
				t.Fatalf("randomIn(%d) falls in bucket %d", bi, got)
			}
		}
	}
}
