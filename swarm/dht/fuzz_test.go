package dht

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/bencode"
)

// fuzzTID is the transaction id of the query the fuzzed node always has
// pending to fuzzPeer, so that fuzzed responses reach the response path.
const fuzzTID = 0x01020304

// fuzzPeer and fuzzPeer6 are the sources of the fuzzed datagrams: the
// IPv4 node hears fuzzPeer, the dual-stack node both.
var (
	fuzzPeer  = netip.MustParseAddrPort("127.0.0.2:6881")
	fuzzPeer6 = netip.MustParseAddrPort("[::1]:6882")
)

// seedMessages are the valid seeds and some junk.
func seedMessages() []string {
	return append(validSeeds(),
		"d1:t2:aa1:y1:qe", "garbage", "", "d", "i-0e", "l"+strings.Repeat("d1:al", 20),
		"d1:rd2:id20:"+strings.Repeat("I", 20)+"6:nodes637:"+strings.Repeat("n", 37)+"e1:t4:\x01\x02\x03\x041:y1:re",
	)
}

// validSeeds are realistic KRPC messages: ours, the shapes libtorrent
// 2.0 sends (extra keys such as bs, seed, ip, p, ro), and BEP 32 ones
// (want, nodes6, 18-byte values).
func validSeeds() []string {
	id := strings.Repeat("I", 20)
	ih := strings.Repeat("H", 20)
	node := id + "\x7f\x00\x00\x03\x1a\xe1"
	node6 := id + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2"
	peer6 := "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x1a\xe1"
	tid := string(binary.BigEndian.AppendUint32(nil, fuzzTID))
	var ours []string
	for _, q := range []*query{
		{method: qPing}, {method: qFindNode, target: [20]byte{1}}, {method: qGetPeers, target: [20]byte{2}},
		{method: qAnnouncePeer, target: [20]byte{3}, port: 6881, token: []byte("12345678")},
	} {
		ours = append(ours, string(appendQuery(nil, []byte("aa"), [20]byte{9}, q)))
		q.want = setBoth
		ours = append(ours, string(appendQuery(nil, []byte("ab"), [20]byte{9}, q)))
	}
	return append(ours,
		"d1:ad2:bsi1e2:id20:"+id+"9:info_hash20:"+ih+"e1:q9:get_peers1:t2:b51:v4:LT\x02\x081:y1:qe",
		"d1:ad2:id20:"+id+"12:implied_porti1e9:info_hash20:"+ih+"4:porti43403e4:seedi0e5:token8:abcdefghe1:q13:announce_peer1:t2:aZ1:v4:LT\x02\x081:y1:qe",
		"d1:ad2:id20:"+id+"2:roi1ee1:q4:ping1:t2:ro1:y1:qe",
		"d1:ad2:id20:"+id+"e1:q6:sample1:t2:xx1:y1:qe",
		"d2:ip6:\x7f\x00\x00\x01\xd7\x9d1:rd2:id20:"+id+"5:nodes26:"+node+"1:pi55197ee1:t4:"+tid+"1:v4:LT\x02\x081:y1:re",
		"d1:rd2:id20:"+id+"5:nodes52:"+node+node+"5:token8:tokentok6:valuesl6:\x7f\x00\x00\x05\x1a\xe16:\x0a\x00\x00\x01\x00\x00ee1:t4:"+tid+"1:y1:re",
		"d1:eli203e9:Bad Tokene1:t4:"+tid+"1:y1:ee",
		"d1:eli201ee1:t2:aa1:y1:ee",
		"d1:ad2:id20:"+id+"9:info_hash20:"+ih+"4:wantl2:n6ee1:q9:get_peers1:t2:w61:y1:qe",
		"d1:rd2:id20:"+id+"6:nodes676:"+node6+node6+"5:token8:tokentok6:valuesl18:"+peer6+"6:\x7f\x00\x00\x05\x1a\xe1ee1:t4:"+tid+"1:y1:re",
		"d1:rd2:id20:"+id+"5:nodes26:"+node+"6:nodes638:"+node6+"e1:t4:"+tid+"1:v4:LT\x02\x081:y1:re",
	)
}

func FuzzKRPC(f *testing.F) {
	for _, s := range seedMessages() {
		f.Add([]byte(s))
	}
	c := newMemConn(true)
	n, err := newNode(Config{Conn: c, ID: idOf(0x42, 1), QueryRate: 1 << 30})
	if err != nil {
		f.Fatal(err)
	}
	fill(n, 50)
	now := time.Now()
	for i := range 20 {
		n.store.add(idOf(0x48, 0x48), addrN(i), now)
	}
	// A dual-stack node, with full tables and peers of both families.
	c6 := newMemConn(true)
	c6.local = net.UDPAddrFromAddrPort(netip.MustParseAddrPort("[::]:6881"))
	n6, err := newNode(Config{Conn: c6, ID: idOf(0x42, 1), QueryRate: 1 << 30})
	if err != nil {
		f.Fatal(err)
	}
	fill(n6, 50)
	fill6(n6, 50)
	for i := range maxPeersPer {
		n6.store.add(idOf(0x48, 0x48), addrN(i), now)
		n6.store.add(idOf(0x48, 0x48), addr6N(i), now)
	}
	resC := make(chan reply, 4)
	f.Fuzz(func(t *testing.T, b []byte) {
		// The decoder alone.
		if m, err := parseMsg(b); err == nil {
			id20(m.a, "id")
			if m.y == 'r' {
				var rep reply
				readReply(m.r, fuzzPeer.Addr(), &rep)
				if len(rep.nodes) > maxNodesIn || len(rep.nodes6) > maxNodesIn || len(rep.values) > maxValuesIn || len(rep.token) > maxTokenLen {
					t.Fatalf("reply over bounds: %d nodes, %d nodes6, %d values, %d-byte token",
						len(rep.nodes), len(rep.nodes6), len(rep.values), len(rep.token))
				}
				for _, ni := range rep.nodes6 {
					if ip := ni.addr.Addr(); !ip.Is6() || ip.Is4In6() || !usable(ni.addr, fuzzPeer.Addr()) {
						t.Fatalf("nodes6 gave %v", ni.addr)
					}
				}
			}
		}
		// The whole packet handler, with a transaction waiting: the IPv4
		// node from an IPv4 source, the dual-stack node from both.
		for _, h := range []struct {
			n      *Node
			c      *memConn
			from   netip.AddrPort
			maxOut int // largest datagram we may send
		}{{n, c, fuzzPeer, 1472}, {n6, c6, fuzzPeer, 1232}, {n6, c6, fuzzPeer6, 1232}} {
			if p, ok := h.n.pending[fuzzTID]; !ok || p.addr != h.from {
				h.n.pending[fuzzTID] = pending{addr: h.from, deadline: now.Add(time.Hour), resC: resC}
			}
			h.n.handlePacket(b, h.from, now)
			for len(resC) > 0 {
				<-resC
			}
			for _, s := range h.c.take() {
				if len(s.b) > h.maxOut {
					t.Fatalf("sent %d bytes to %v", len(s.b), s.to)
				}
				if _, err := bencode.Decode(s.b); err != nil {
					t.Fatalf("sent an undecodable message %q: %v", s.b, err)
				}
				if s.to.Addr().Is6() != h.from.Addr().Is6() {
					t.Fatalf("a datagram from %v answered to %v", h.from, s.to)
				}
			}
			size := h.n.tables[fam4].size() + h.n.tables[fam6].size()
			if len(h.n.pending) > maxPending || size > 2*maxBuckets*bucketSize ||
				len(h.n.store.torrents) > maxTorrents || h.n.store.n > maxTorrents*maxPeersPer {
				t.Fatalf("state over bounds: %d pending, %d nodes, %d torrents, %d peers",
					len(h.n.pending), size, len(h.n.store.torrents), h.n.store.n)
			}
			for a := range h.n.tables[fam6].addrs {
				if !a.Addr().Is6() || a.Addr().Is4In6() {
					t.Fatalf("%v in the IPv6 table", a)
				}
			}
			for a := range h.n.tables[fam4].addrs {
				if !a.Addr().Is4() {
					t.Fatalf("%v in the IPv4 table", a)
				}
			}
		}
	})
}

// FuzzNodes6 checks the BEP 32 decoders: a "nodes6" string, and a
// "values" list, both from a remote or a loopback source.
func FuzzNodes6(f *testing.F) {
	id := strings.Repeat("I", 20)
	ip6 := "\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x01"
	for _, s := range []string{
		"", id + ip6 + "\x1a\xe1", id + ip6 + "\x1a\xe1" + id + strings.Repeat("\x00", 15) + "\x01\x00\x01",
		id + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x0a\x00\x00\x01\x1a\xe1", // IPv4-mapped
		id + "\xfe\x80" + strings.Repeat("\x00", 13) + "\x01\x1a\xe1",                   // link-local
		strings.Repeat("x", 37), strings.Repeat("x", 39), strings.Repeat("y", 38*13), // 494: a multiple of 26 too
		"l18:" + ip6 + "\x1a\xe16:\x0a\x00\x00\x01\x1a\xe117:" + strings.Repeat("z", 17) + "e",
		"l18:" + strings.Repeat("\x00", 15) + "\x01\x00\x01i3ee",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, loopback bool) {
		from := netip.MustParseAddr("2001:db8::9")
		if loopback {
			from = netip.IPv6Loopback()
		}
		got := parseNodes6(nil, b, maxNodesIn, from)
		if len(b)%compactNode6Len != 0 && len(got) > 0 || len(got) > min(len(b)/compactNode6Len, maxNodesIn) {
			t.Fatalf("%d nodes6 from %d bytes", len(got), len(b))
		}
		for _, ni := range got {
			if ip := ni.addr.Addr(); !ip.Is6() || ip.Is4In6() || !usable(ni.addr, from) || ip.IsLinkLocalUnicast() {
				t.Fatalf("nodes6 gave %v", ni.addr)
			}
		}
		// Encoded again and decoded, the nodes are the same.
		enc := appendNodes(nil, got, fam6)
		v, err := bencode.Decode(enc)
		if err != nil {
			t.Fatalf("our nodes6 %q: %v", enc, err)
		}
		if again := parseNodes6(nil, v.Bytes(), maxNodesIn, from); !slices.Equal(again, got) {
			t.Fatalf("round trip: %v, then %v", got, again)
		}
		// Through a whole response.
		var r []byte
		r = append(r, "d2:id20:"+id+"6:nodes6"...)
		r = appendBytes(r, b)
		r = append(r, 'e')
		if rv, err := bencode.Decode(r); err == nil {
			var rep reply
			readReply(rv, from, &rep)
			if !slices.Equal(rep.nodes6, got) || len(rep.nodes) != 0 {
				t.Fatalf("readReply: %v nodes6, %v nodes; parseNodes6 %v", rep.nodes6, rep.nodes, got)
			}
		}
		// b as a values list.
		if list, err := bencode.Decode(b); err == nil {
			vals := parseValues(nil, list, maxValuesIn, from)
			if len(vals) > maxValuesIn {
				t.Fatalf("%d values", len(vals))
			}
			for _, a := range vals {
				if !usable(a, from) || a.Addr().Is4In6() {
					t.Fatalf("values gave %v", a)
				}
			}
		}
	})
}

// Seeds are valid where they mean to be: every one of ours decodes.
func TestSeedMessages(t *testing.T) {
	for _, s := range validSeeds() {
		if _, err := parseMsg([]byte(s)); err != nil {
			t.Errorf("seed %q: %v", s, err)
		}
	}
}
