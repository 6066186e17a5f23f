package pex

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

// peers returns n peers with addresses 10.0.x.y:6881 starting at index from.
func peers(from, n int) []Peer {
	var ps []Peer
	for i := from; i < from+n; i++ {
		ps = append(ps, Peer{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 6881), Flags: byte(i % 32)})
	}
	return ps
}

func addrs(ps []Peer) []netip.AddrPort {
	var as []netip.AddrPort
	for _, p := range ps {
		as = append(as, p.Addr)
	}
	return as
}

func TestSenderRounds(t *testing.T) {
	var s Sender
	if _, ok := s.Next(nil); ok {
		t.Fatal("message with nothing to say")
	}
	cur := peers(0, 120)
	rounds := []struct {
		name    string
		current []Peer
		added   []Peer
		dropped []netip.AddrPort
	}{
		{"first message: 50 current peers", cur, cur[:50], nil},
		{"the next 50", cur, cur[50:100], nil},
		{"the last 20", cur, cur[100:], nil},
		{"nothing new", cur, nil, nil},
		{"60 gone: 50 dropped", cur[60:], nil, addrs(cur[:50])},
		{"the other 10 dropped, 3 new added", append(slices.Clone(cur[60:]), peers(500, 3)...), peers(500, 3), addrs(cur[50:60])},
		{"a dropped peer returns", append(slices.Clone(cur[60:]), append(peers(500, 3), cur[0])...), cur[:1], nil},
		{"all gone", nil, nil, addrs(append(cur[:1:1], cur[60:109]...))},
	}
	for _, r := range rounds {
		m, ok := s.Next(r.current)
		if ok != (r.added != nil || r.dropped != nil) {
			t.Fatalf("%s: ok = %v", r.name, ok)
		}
		if !reflect.DeepEqual(m.Added, r.added) || !reflect.DeepEqual(m.Dropped, r.dropped) {
			t.Fatalf("%s:\nadded   %v\ndropped %v\nwant    %v\n        %v", r.name, m.Added, m.Dropped, r.added, r.dropped)
		}
		if len(m.Added) > MaxPerMessage || len(m.Dropped) > MaxPerMessage {
			t.Fatalf("%s: over the limit", r.name)
		}
	}
}

func TestSenderFiltersCurrent(t *testing.T) {
	var s Sender
	good := Peer{Addr: ap("1.2.3.4:5"), Flags: Seed}
	m, ok := s.Next([]Peer{
		{Addr: ap("0.0.0.0:1")},
		{Addr: ap("1.2.3.4:0")},
		{Addr: ap("[ff02::1]:1")},
		{},
		good,
		{Addr: ap("[::ffff:1.2.3.4]:5")}, // the same peer, mapped
		good,
	})
	if !ok || !reflect.DeepEqual(m, Msg{Added: []Peer{good}}) {
		t.Fatalf("Next = %+v, %v", m, ok)
	}
	if m, ok := s.Next([]Peer{{Addr: ap("[::ffff:1.2.3.4]:5")}}); ok {
		t.Fatalf("a mapped address counted as new: %+v", m)
	}
}

func TestSenderMemoryBounded(t *testing.T) {
	var s Sender
	largest := 0
	for round := range 200 {
		// A swarm churning faster than PEX can report.
		n := 100 + round%37
		largest = max(largest, n)
		s.Next(peers(round*150, n))
		if len(s.told) > largest+2*MaxPerMessage {
			t.Fatalf("round %d: %d addresses remembered, current at most %d", round, len(s.told), largest)
		}
	}
}
