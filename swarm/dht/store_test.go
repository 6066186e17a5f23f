package dht

import (
	"net/netip"
	"testing"
	"time"
)

func TestStoreBounds(t *testing.T) {
	now := time.Now()
	s := newStore()
	ih := idOf(1, 1)
	for i := range maxPeersPer + 50 {
		s.add(ih, addrN(i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if got := len(s.torrents[ih].peers); got != maxPeersPer || s.n != maxPeersPer {
		t.Fatalf("%d peers stored (count %d), want %d", got, s.n, maxPeersPer)
	}
	// The oldest were replaced: the first 50 are gone, the last are there.
	got := map[netip.AddrPort]bool{}
	for _, p := range s.peers(ih, now, maxPeersPer, setBoth, nil) {
		got[p] = true
	}
	if got[addrN(0)] || got[addrN(49)] || !got[addrN(50)] || !got[addrN(maxPeersPer+49)] {
		t.Error("the oldest peers were not the ones replaced")
	}
	// One IP holds at most maxPerIP entries of an info-hash.
	ih2 := idOf(2, 2)
	ip := netip.MustParseAddr("10.9.9.9")
	for port := range 100 {
		s.add(ih2, netip.AddrPortFrom(ip, uint16(1000+port)), now)
	}
	if got := len(s.torrents[ih2].peers); got != maxPerIP {
		t.Errorf("one IP holds %d entries, want %d", got, maxPerIP)
	}
	// Re-announcing refreshes, never duplicates.
	s.add(ih2, netip.AddrPortFrom(ip, 1099), now)
	if got := len(s.torrents[ih2].peers); got != maxPerIP {
		t.Errorf("re-announce duplicated: %d", got)
	}
	// Info-hashes: at most maxTorrents; the least recently announced goes.
	s = newStore()
	for i := range maxTorrents + 10 {
		var h [20]byte
		h[0], h[1] = byte(i>>8), byte(i)
		s.add(h, addrN(i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if len(s.torrents) != maxTorrents || s.n != maxTorrents {
		t.Errorf("%d info-hashes, %d peers; want %d", len(s.torrents), s.n, maxTorrents)
	}
	if _, ok := s.torrents[[20]byte{}]; ok {
		t.Error("the least recently announced info-hash was kept")
	}
}

func TestStoreExpiry(t *testing.T) {
	t0 := time.Now()
	s := newStore()
	ih := idOf(1, 1)
	s.add(ih, addrN(1), t0)
	s.add(ih, addrN(2), t0.Add(10*time.Minute))
	s.add(idOf(2, 2), addrN(3), t0)
	at := t0.Add(peerTTL + time.Minute)
	if got := s.peers(ih, at, 50, setBoth, nil); len(got) != 1 || got[0] != addrN(2) {
		t.Errorf("peers after 31 min = %v, want only the later one", got)
	}
	s.expire(at)
	if len(s.torrents) != 1 || s.n != 1 {
		t.Errorf("after expire: %d info-hashes, %d peers", len(s.torrents), s.n)
	}
	s.expire(t0.Add(time.Hour))
	if len(s.torrents) != 0 || s.n != 0 {
		t.Errorf("after expiring all: %d info-hashes, %d peers", len(s.torrents), s.n)
	}
}

func TestStoreSample(t *testing.T) {
	now := time.Now()
	s := newStore()
	ih := idOf(1, 1)
	for i := range maxPeersPer {
		s.add(ih, addrN(i), now)
	}
	seen := map[netip.AddrPort]bool{}
	for range 50 {
		got := s.peers(ih, now, maxValuesOut, setBoth, nil)
		if len(got) != maxValuesOut {
			t.Fatalf("%d values, want %d", len(got), maxValuesOut)
		}
		dup := map[netip.AddrPort]bool{}
		for _, p := range got {
			if dup[p] {
				t.Fatalf("duplicate %v in one sample", p)
			}
			dup[p], seen[p] = true, true
		}
	}
	if len(seen) < maxPeersPer*3/4 {
		t.Errorf("50 samples covered %d of %d peers: not random", len(seen), maxPeersPer)
	}
}
