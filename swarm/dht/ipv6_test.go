package dht

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/bencode"
	zb "github.com/zeebo/bencode"
)

// addr6N is the i-th IPv6 test address, each in a /64 of its own.
func addr6N(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, byte(i >> 8), byte(i), 15: 1}), 6881)
}

func fill6(n *Node, count int) {
	now := time.Now()
	for i := range count {
		n.tables[fam6].replied(idOf(byte(i), byte(i*17)), addr6N(i), now)
	}
}

// newMemNode is a node without goroutines on a memConn bound to local.
func newMemNode(t testing.TB, local string) (*Node, *memConn) {
	t.Helper()
	c := newMemConn(true)
	c.local = net.UDPAddrFromAddrPort(ap(local))
	n, err := newNode(Config{Conn: c, ID: idOf(0x42, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return n, c
}

func TestSocketFamilies(t *testing.T) {
	for _, tc := range []struct {
		local string
		want  famSet
	}{
		{"127.0.0.1:6881", set4},
		{"0.0.0.0:6881", set4},
		{"[::ffff:127.0.0.1]:6881", set4},
		{"[::1]:6881", set6},
		{"[::]:6881", setBoth}, // not a *net.UDPConn: taken to be dual-stack
	} {
		if n, _ := newMemNode(t, tc.local); n.fams != tc.want {
			t.Errorf("%s: families %b, want %b", tc.local, n.fams, tc.want)
		}
	}
	// Go sets IPV6_V6ONLY on IPv6 sockets but those of "udp" listeners on
	// the unspecified address (TestDualStackNetwork has one).
	for _, network := range []string{"udp6", "udp"} {
		c, err := net.ListenUDP(network, &net.UDPAddr{IP: net.IPv6loopback})
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		if !v6only(c) {
			t.Errorf("%s socket on [::1]: not IPv6-only", network)
		}
		n, err := New(Config{Conn: c})
		if err != nil {
			t.Fatalf("New on an IPv6 %s socket: %v", network, err)
		}
		if n.fams != set6 || n.Addr().Addr() != netip.IPv6Loopback() {
			t.Errorf("node on %v: families %b", n.Addr(), n.fams)
		}
		n.Close()
	}
}

func TestParseNodes6(t *testing.T) {
	lo, remote := netip.MustParseAddr("::1"), netip.MustParseAddr("2001:db8::9")
	entry := func(id byte, addr string) []byte {
		i := idOf(id, id)
		a := ap(addr)
		ip := a.Addr().As16()
		b := append(i[:], ip[:]...)
		return append(b, byte(a.Port()>>8), byte(a.Port()))
	}
	var b []byte
	b = append(b, entry(1, "[2001:db8::1]:1")...)
	b = append(b, entry(2, "[2001:db8::2]:0")...)     // port 0
	b = append(b, entry(3, "[::]:5")...)              // unspecified
	b = append(b, entry(4, "[ff02::1]:5")...)         // multicast
	b = append(b, entry(5, "[::1]:5")...)             // loopback
	b = append(b, entry(6, "[fe80::1]:5")...)         // link-local
	b = append(b, entry(7, "[::ffff:10.0.0.7]:7")...) // IPv4-mapped: not an IPv6 node
	b = append(b, entry(8, "[2001:db8::8]:8")...)     // fine
	if got := parseNodes6(nil, b, 100, remote); len(got) != 2 || got[0].id != idOf(1, 1) || got[1].addr != ap("[2001:db8::8]:8") {
		t.Errorf("from a remote source: %v", got)
	}
	if got := parseNodes6(nil, b, 100, lo); len(got) != 3 {
		t.Errorf("from loopback: %d nodes, want 3 (loopback allowed)", len(got))
	}
	for _, cut := range []int{1, 12, compactNodeLen} {
		if got := parseNodes6(nil, b[:len(b)-cut], 100, lo); len(got) != 0 {
			t.Errorf("length not a multiple of 38 (%d bytes): %d nodes", len(b)-cut, len(got))
		}
	}
	var many []byte
	for i := range 300 {
		many = append(many, entry(byte(i), "[2001:db8::1]:1")...)
	}
	if got := parseNodes6(nil, many, maxNodesIn, lo); len(got) != maxNodesIn {
		t.Errorf("300 nodes: kept %d, want %d", len(got), maxNodesIn)
	}
	// Values: 18-byte entries are IPv6 peers, bounded and checked.
	list, _ := zb.EncodeBytes([]any{
		string(appendCompactAddr(nil, ap("[2001:db8::1]:80"))),
		string(appendCompactAddr(nil, ap("[::1]:81"))),     // loopback from a remote source
		string(appendCompactAddr(nil, ap("[fe80::1]:82"))), // link-local
		string(appendCompactAddr(nil, ap("10.0.0.1:83"))),
		strings.Repeat("x", 17), strings.Repeat("x", 19),
	})
	m, err := parseMsg([]byte("d1:rd2:id20:" + strings.Repeat("a", 20) + "6:values" + string(list) + "e1:t2:aa1:y1:re"))
	if err != nil {
		t.Fatal(err)
	}
	got := parseValues(nil, m.r.Get("values"), maxValuesIn, remote)
	if !slices.Equal(got, []netip.AddrPort{ap("[2001:db8::1]:80"), ap("10.0.0.1:83")}) {
		t.Errorf("values = %v", got)
	}
}

func TestEncodeCanonical6(t *testing.T) {
	id, target := idOf(1, 2), idOf(3, 4)
	tid := []byte{9, 8, 7, 6}
	n4 := nodeInfo{id: idOf(5, 5), addr: ap("10.0.0.5:1000")}
	n6 := nodeInfo{id: idOf(7, 7), addr: ap("[2001:db8::7]:3000")}
	peer6 := ap("[2001:db8::1]:51413")
	node6 := string(n6.id[:]) + string(appendCompactAddr(nil, n6.addr))
	tail := func(m map[string]any, y string) map[string]any {
		m["t"], m["v"], m["y"] = string(tid), clientVersion, y
		return m
	}
	for _, tc := range []struct {
		name string
		got  []byte
		want map[string]any
	}{
		{"find_node want both", appendQuery(nil, tid, id, &query{method: qFindNode, target: target, want: setBoth}),
			tail(map[string]any{"q": "find_node", "a": map[string]any{"id": string(id[:]), "target": string(target[:]),
				"want": []any{"n4", "n6"}}}, "q")},
		{"get_peers want n6", appendQuery(nil, tid, id, &query{method: qGetPeers, target: target, want: set6}),
			tail(map[string]any{"q": "get_peers", "a": map[string]any{"id": string(id[:]), "info_hash": string(target[:]),
				"want": []any{"n6"}}}, "q")},
		{"nodes6 only", appendResponse(nil, tid, id, &response{withNodes6: true, nodes6: []nodeInfo{n4, n6}}),
			tail(map[string]any{"r": map[string]any{"id": string(id[:]), "nodes6": node6}}, "r")},
		{"both and values", appendResponse(nil, tid, id, &response{withNodes: true, nodes: []nodeInfo{n4},
			withNodes6: true, token: []byte("12345678"), values: []netip.AddrPort{peer6}}),
			tail(map[string]any{"r": map[string]any{"id": string(id[:]), "nodes6": "", "token": "12345678",
				"nodes":  string(n4.id[:]) + string(appendCompactAddr(nil, n4.addr)),
				"values": []any{string(appendCompactAddr(nil, peer6))}}}, "r")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := zb.EncodeBytes(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tc.got, want) {
				t.Errorf("got  %q\nwant %q", tc.got, want)
			}
		})
	}
}

// keyLen returns the length of string key in r, or -1 when absent.
func keyLen(r bencode.Value, key string) int {
	v := r.Get(key)
	if v == nil {
		return -1
	}
	return len(v.Bytes())
}

// A dual-stack node answers with nodes and nodes6 as the querier wants,
// or, without "want", of the family the query came over; get_peers
// values are the querier's family's peers, 6 or 18 bytes each.
func TestDualStackAnswers(t *testing.T) {
	n, c := newMemNode(t, "[::]:6881")
	fill(n, 100)
	fill6(n, 100)
	from4, from6 := ap("127.0.0.9:5000"), ap("[::1]:5000")
	themID := idOf(0x99, 9)
	them := string(themID[:])
	ih := idOf(0x43, 3)
	for _, tc := range []struct {
		name   string
		from   netip.AddrPort
		want   []any
		n4, n6 int // nodes in "nodes", "nodes6"; -1: key absent
	}{
		{"over IPv4", from4, nil, bucketSize, -1},
		{"over IPv6", from6, nil, -1, bucketSize},
		{"IPv4 wants both", from4, []any{"n4", "n6"}, bucketSize, bucketSize},
		{"IPv6 wants n4", from6, []any{"n4"}, bucketSize, -1},
		{"IPv4 wants n6", from4, []any{"n6"}, -1, bucketSize},
		{"want of junk", from6, []any{"x", 1, []any{"n4"}}, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{qFindNode, qGetPeers} {
				args := map[string]any{"id": them, "target": string(ih[:]), "info_hash": string(ih[:])}
				if tc.want != nil {
					args["want"] = tc.want
				}
				v, ok := answer(t, n, c, queryMsg(t, "aa", method, args), tc.from)
				if !ok {
					t.Fatalf("%s: no answer", method)
				}
				r := v.Get("r")
				got4, got6 := keyLen(r, "nodes"), keyLen(r, "nodes6")
				if want := tc.n4 * compactNodeLen; tc.n4 < 0 && got4 != -1 || tc.n4 >= 0 && got4 != want {
					t.Errorf("%s: nodes of %d bytes, want %d nodes", method, got4, tc.n4)
				}
				if want := tc.n6 * compactNode6Len; tc.n6 < 0 && got6 != -1 || tc.n6 >= 0 && got6 != want {
					t.Errorf("%s: nodes6 of %d bytes, want %d nodes", method, got6, tc.n6)
				}
				for _, ni := range parseNodes6(nil, r.Get("nodes6").Bytes(), 100, from6.Addr()) {
					if !ni.addr.Addr().Is6() || n.tables[fam6].addrs[ni.addr] != ni.id {
						t.Errorf("nodes6 names %v, not a node of the IPv6 table", ni.addr)
					}
				}
			}
		})
	}

	// Announces over each family; each family's get_peers sees its own.
	token := func(from netip.AddrPort) string {
		v, _ := answer(t, n, c, queryMsg(t, "tk", qGetPeers, map[string]any{"id": them, "info_hash": string(ih[:])}), from)
		return string(v.Get("r").Get("token").Bytes())
	}
	for _, from := range []netip.AddrPort{from4, from6} {
		ann := map[string]any{"id": them, "info_hash": string(ih[:]), "port": 7777, "token": token(from)}
		if v, _ := answer(t, n, c, queryMsg(t, "an", qAnnouncePeer, ann), from); v.Get("r") == nil {
			t.Fatalf("announce from %v refused: %q", from, v)
		}
	}
	for _, tc := range []struct {
		from   netip.AddrPort
		size   int
		stored netip.AddrPort
	}{{from4, 6, ap("127.0.0.9:7777")}, {from6, 18, ap("[::1]:7777")}} {
		v, _ := answer(t, n, c, queryMsg(t, "gp", qGetPeers, map[string]any{"id": them, "info_hash": string(ih[:])}), tc.from)
		vals := v.Get("r").Get("values")
		for _, e := range vals.Items() {
			if len(e.Bytes()) != tc.size {
				t.Errorf("a %d-byte value to a query over %v", len(e.Bytes()), tc.from)
			}
		}
		if got := parseValues(nil, vals, 100, tc.from.Addr()); !slices.Equal(got, []netip.AddrPort{tc.stored}) {
			t.Errorf("get_peers over %v: values %v, want %v", tc.from, got, tc.stored)
		}
	}
}

// Answers fit the IPv6 minimum MTU (1280 less 48 bytes of headers) with
// nodes of both families, as many values as allowed and a 32-byte t.
func TestReplySize6(t *testing.T) {
	n, c := newMemNode(t, "[::]:6881")
	fill(n, 1000)
	fill6(n, 1000)
	ih := idOf(0x43, 3)
	now := time.Now()
	for i := range maxPeersPer {
		n.store.add(ih, addrN(i), now)
		n.store.add(ih, addr6N(i), now)
	}
	themID := idOf(0x99, 9)
	tid := strings.Repeat("t", maxTxnLen)
	for _, tc := range []struct {
		from   netip.AddrPort
		values int
	}{{ap("10.9.9.9:5000"), maxValuesOut}, {ap("[2001:db8:ffff::9]:5000"), maxValuesOut6}} {
		args := map[string]any{"id": string(themID[:]), "info_hash": string(ih[:]), "want": []any{"n4", "n6"}}
		n.handlePacket(queryMsg(t, tid, qGetPeers, args), tc.from, now)
		out := c.take()
		if len(out) == 0 {
			t.Fatalf("%v: no answer", tc.from)
		}
		size := len(out[0].b)
		t.Logf("get_peers over %v with both families' nodes: %d bytes", tc.from, size)
		if size > 1232 {
			t.Errorf("answer of %d bytes over %v", size, tc.from)
		}
		v, _ := bencode.Decode(out[0].b)
		r := v.Get("r")
		if got := r.Get("values").Len(); got != tc.values || keyLen(r, "nodes") != bucketSize*compactNodeLen ||
			keyLen(r, "nodes6") != bucketSize*compactNode6Len {
			t.Errorf("%v: %d values (want %d), nodes %d bytes, nodes6 %d bytes",
				tc.from, got, tc.values, keyLen(r, "nodes"), keyLen(r, "nodes6"))
		}
	}
}

// Datagrams of a family the socket does not use are ignored; AddNode and
// saved nodes keep to the families the node uses.
func TestFamilyFilters(t *testing.T) {
	ping := func(tid string) []byte {
		return []byte("d1:ad2:id20:" + strings.Repeat("p", 20) + "e1:q4:ping1:t2:" + tid + "1:y1:qe")
	}
	for _, tc := range []struct {
		local            string
		answer4, answer6 bool
	}{
		{"127.0.0.1:6881", true, false},
		{"[::1]:6881", false, true},
		{"[::]:6881", true, true},
	} {
		n, c := newMemNode(t, tc.local)
		for _, q := range []struct {
			from netip.AddrPort
			want bool
		}{{ap("127.0.0.2:1"), tc.answer4}, {ap("[::1]:2"), tc.answer6}, {ap("[fe80::1%lo]:3"), false}} {
			n.handlePacket(ping("pp"), q.from, time.Now())
			if got := len(c.take()) > 0; got != q.want {
				t.Errorf("node on %s, ping from %v: answered %v, want %v", tc.local, q.from, got, q.want)
			}
		}
		n.AddNode(ap("127.0.0.2:1"))
		n.AddNode(ap("[::1]:2"))
		n.AddNode(ap("[fe80::1]:3"))
		n.AddNode(ap("[::ffff:127.0.0.3]:4")) // unmapped: IPv4
		want4, want6 := 0, 0
		if tc.answer4 {
			want4 = 2
		}
		if tc.answer6 {
			want6 = 1
		}
		if got := len(n.addC); got != want4+want6 {
			t.Errorf("node on %s: AddNode queued %d addresses, want %d", tc.local, got, want4+want6)
		}
		if err := n.send(ap("[2001:db8::1]:1"), &query{method: qPing}, nil, time.Now()); (err == nil) != tc.answer6 {
			t.Errorf("node on %s: query to IPv6: %v", tc.local, err)
		}
	}
	c := newMemConn(false)
	n, err := newNode(Config{Conn: c, Nodes: []netip.AddrPort{ap("10.0.0.1:1"), ap("[2001:db8::1]:1"), ap("[::ffff:10.0.0.2]:2")}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n.startPings, []netip.AddrPort{ap("10.0.0.1:1"), ap("10.0.0.2:2")}) {
		t.Errorf("IPv4 node pings saved nodes %v", n.startPings)
	}
}

// The dual-stack node's lookup asks for both families, and an answer
// over IPv6 puts the node in the IPv6 table and passes on nodes6.
func TestLookupAsksBoth(t *testing.T) {
	c := newMemConn(true)
	c.local = net.UDPAddrFromAddrPort(ap("[::]:6881"))
	n, err := New(Config{Conn: c, ID: idOf(0x42, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	l := newLookup(n, qGetPeers, idOf(7, 7), n.fams)
	l.add(nodeInfo{addr: ap("10.0.0.1:1")}, false)
	l.add(nodeInfo{addr: ap("[2001:db8::1]:1")}, false)
	for f := range l.sides {
		if err := l.fill(context.Background(), &l.sides[f]); err != nil {
			t.Fatal(err)
		}
	}
	out := c.take()
	if len(out) != 2 {
		t.Fatalf("%d queries sent, want 2", len(out))
	}
	var tid6 []byte
	for _, s := range out {
		m, err := parseMsg(s.b)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, w := range m.a.Get("want").Items() {
			want = append(want, string(w.Bytes()))
		}
		if !slices.Equal(want, []string{"n4", "n6"}) {
			t.Errorf("query to %v wants %q", s.to, want)
		}
		if s.to.Addr().Is6() {
			tid6 = m.t
		}
	}
	// The IPv6 node answers with both kinds of nodes.
	var nodes, nodes6 []byte
	for i := range 3 {
		id := idOf(byte(0x10+i), 1)
		nodes = appendCompactAddr(append(nodes, id[:]...), addrN(i))
		nodes6 = appendCompactAddr(append(nodes6, id[:]...), addr6N(i))
	}
	them := idOf(0x66, 6)
	resp := encode(t, map[string]any{"t": string(tid6), "y": "r", "r": map[string]any{
		"id": string(them[:]), "nodes": string(nodes), "nodes6": string(nodes6), "token": "tok"}})
	var got reply
	n.do(context.Background(), func() {
		n.handlePacket(resp, ap("[2001:db8::1]:1"), time.Now())
		if n.tables[fam6].size() != 1 || n.tables[fam4].size() != 0 {
			t.Errorf("tables: %d IPv4, %d IPv6 nodes; want the IPv6 node only", n.tables[fam4].size(), n.tables[fam6].size())
		}
	})
	select {
	case got = <-l.resC:
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
	}
	if got.err != nil || len(got.nodes) != 3 || len(got.nodes6) != 3 {
		t.Fatalf("reply: %v, %d nodes, %d nodes6", got.err, len(got.nodes), len(got.nodes6))
	}
	l.handle(got, nil)
	if len(l.sides[fam4].cands) != 4 || len(l.sides[fam6].cands) != 4 {
		t.Errorf("candidates: %d IPv4, %d IPv6; want 4 each", len(l.sides[fam4].cands), len(l.sides[fam6].cands))
	}
	// An IPv4-only lookup keeps no IPv6 candidates.
	l4 := newLookup(n, qFindNode, idOf(7, 7), set4)
	l4.add(nodeInfo{addr: ap("[2001:db8::2]:1")}, false)
	if !l4.empty() {
		t.Error("an IPv4 lookup took an IPv6 candidate")
	}
}

func TestStoreFamilies(t *testing.T) {
	now := time.Now()
	s := newStore()
	ih := idOf(1, 1)
	for i := range 5 {
		s.add(ih, addrN(i), now)
		s.add(ih, addr6N(i), now)
	}
	if got := s.peers(ih, now, 50, set4, nil); len(got) != 5 || !got[0].Addr().Is4() {
		t.Errorf("IPv4 peers %v", got)
	}
	if got := s.peers(ih, now, 50, set6, nil); len(got) != 5 || !got[0].Addr().Is6() {
		t.Errorf("IPv6 peers %v", got)
	}
	if got := s.peers(ih, now, 50, setBoth, nil); len(got) != 10 {
		t.Errorf("all peers %v", got)
	}
	// One /64 holds at most maxPerIP entries of an info-hash.
	ih2 := idOf(2, 2)
	for i := range 100 {
		s.add(ih2, netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 8: byte(i), 15: 1}), 1), now)
	}
	if got := len(s.torrents[ih2].peers); got != maxPerIP {
		t.Errorf("one /64 holds %d entries, want %d", got, maxPerIP)
	}
	// A /64 is one source for the query limiter too.
	l := newLimiter(20)
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:2")
	if !l.allow(a, now) || !l.allow(b, now) || l.allow(netip.MustParseAddr("2001:db8::3"), now) {
		t.Error("the addresses of a /64 do not share one per-IP bound")
	}
	if !l.allow(netip.MustParseAddr("2001:db8:0:1::1"), now) {
		t.Error("another /64 was refused")
	}
}

// Files saved before IPv6 still load; IPv6 lines load too, zoned ones not.
func TestLoadNodesFormats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodes")
	old := nodesHeader + "\n10.0.0.1:6881\n127.0.0.1:1\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadNodes(path); err != nil || !slices.Equal(got, []netip.AddrPort{ap("10.0.0.1:6881"), ap("127.0.0.1:1")}) {
		t.Errorf("old file: %v, %v", got, err)
	}
	mixed := []netip.AddrPort{ap("10.0.0.1:6881"), ap("[2001:db8::1]:6881"), ap("[::1]:2")}
	if err := SaveNodes(path, append(slices.Clone(mixed), ap("[fe80::1%eth0]:1"))); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), nodesHeader+"\n") || strings.Contains(string(b), "%") {
		t.Errorf("saved file %q", b)
	}
	os.WriteFile(path, append(b, "[fe80::2%eth0]:2\n[::ffff:10.0.0.3]:3\n"...), 0o644)
	if got, err := LoadNodes(path); err != nil || !slices.Equal(got, append(mixed, ap("10.0.0.3:3"))) {
		t.Errorf("mixed file: %v, %v", got, err)
	}
}
