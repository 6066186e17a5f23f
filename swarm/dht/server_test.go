package dht

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/bencode"
	zb "github.com/zeebo/bencode"
)

// newTestNode is a node without goroutines: the test drives handlePacket.
func newTestNode(t testing.TB, id [20]byte) (*Node, *memConn) {
	t.Helper()
	c := newMemConn(true)
	n, err := newNode(Config{Conn: c, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return n, c
}

func encode(t testing.TB, m map[string]any) []byte {
	t.Helper()
	b, err := zb.EncodeBytes(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func queryMsg(t testing.TB, tid, method string, args map[string]any) []byte {
	return encode(t, map[string]any{"t": tid, "y": "q", "q": method, "a": args})
}

// answer hands b to the node from `from` and returns the single answer.
func answer(t *testing.T, n *Node, c *memConn, b []byte, from netip.AddrPort) (bencode.Value, bool) {
	t.Helper()
	n.handlePacket(b, from, time.Now())
	out := c.take()
	if len(out) == 0 {
		return nil, false
	}
	if out[0].to != from {
		t.Fatalf("answer sent to %v, want %v", out[0].to, from)
	}
	v, err := bencode.Decode(out[0].b)
	if err != nil {
		t.Fatalf("our answer does not decode: %v", err)
	}
	return v, true
}

func fill(n *Node, count int) {
	now := time.Now()
	for i := range count {
		n.tables[fam4].replied(idOf(byte(i), byte(i*13)), addrN(i), now)
	}
}

func TestHandleQueries(t *testing.T) {
	n, c := newTestNode(t, idOf(0x42, 1))
	fill(n, 100)
	from := ap("127.0.0.9:5000")
	themID := idOf(0x99, 9)
	them := string(themID[:])
	ih := idOf(0x43, 3)

	v, _ := answer(t, n, c, queryMsg(t, "aa", "ping", map[string]any{"id": them}), from)
	if y, _ := v.Get("y").Text(); y != "r" || string(v.Get("t").Bytes()) != "aa" {
		t.Fatalf("ping answer %q", v)
	}
	if id, ok := id20(v.Get("r"), "id"); !ok || id != n.id {
		t.Error("ping answer without our id")
	}
	if ver, _ := v.Get("v").Text(); ver != clientVersion {
		t.Errorf("v = %q", ver)
	}

	v, _ = answer(t, n, c, queryMsg(t, "bb", "find_node", map[string]any{"id": them, "target": string(ih[:])}), from)
	if nodes := v.Get("r").Get("nodes").Bytes(); len(nodes) != bucketSize*compactNodeLen {
		t.Errorf("find_node: %d bytes of nodes", len(nodes))
	}

	// The querier is not told about itself; want without n4 gets no nodes.
	self5 := idOf(5, 5*13)
	v, _ = answer(t, n, c, queryMsg(t, "b5", "find_node", map[string]any{"id": string(self5[:]), "target": string(self5[:])}), addrN(5))
	for _, ni := range parseNodes(nil, v.Get("r").Get("nodes").Bytes(), 100, from.Addr()) {
		if ni.addr == addrN(5) {
			t.Error("find_node answer names the querier")
		}
	}
	v, _ = answer(t, n, c, queryMsg(t, "b6", "find_node", map[string]any{"id": them, "target": string(ih[:]), "want": []any{"n6"}}), from)
	if v.Get("r").Get("nodes") != nil {
		t.Error("nodes sent to a query that wants only n6")
	}
	v, _ = answer(t, n, c, queryMsg(t, "b7", "find_node", map[string]any{"id": them, "target": string(ih[:]), "want": []any{"n6", "n4"}}), from)
	if len(v.Get("r").Get("nodes").Bytes()) != bucketSize*compactNodeLen {
		t.Error("no nodes sent to a query that wants n4")
	}

	v, _ = answer(t, n, c, queryMsg(t, "cc", "get_peers", map[string]any{"id": them, "info_hash": string(ih[:])}), from)
	r := v.Get("r")
	token := r.Get("token").Bytes()
	if len(token) != tokenLen || len(r.Get("nodes").Bytes()) != bucketSize*compactNodeLen || r.Get("values") != nil {
		t.Fatalf("get_peers answer %q", v)
	}

	ann := map[string]any{"id": them, "info_hash": string(ih[:]), "port": 7777, "token": string(token)}
	v, _ = answer(t, n, c, queryMsg(t, "dd", "announce_peer", ann), from)
	if y, _ := v.Get("y").Text(); y != "r" {
		t.Fatalf("announce_peer with a good token: %q", v)
	}
	ann["implied_port"], ann["port"] = 1, 1
	answer(t, n, c, queryMsg(t, "de", "announce_peer", ann), from)
	v, _ = answer(t, n, c, queryMsg(t, "ee", "get_peers", map[string]any{"id": them, "info_hash": string(ih[:])}), from)
	var got []netip.AddrPort
	got = parseValues(got, v.Get("r").Get("values"), 100, from.Addr())
	if len(got) != 2 || !(got[0] == ap("127.0.0.9:7777") || got[1] == ap("127.0.0.9:7777")) ||
		!(got[0] == from || got[1] == from) {
		t.Errorf("values after announces = %v, want 127.0.0.9:7777 and the implied %v", got, from)
	}

	errCode := func(v bencode.Value) int64 {
		for i, e := range v.Get("e").Items() {
			if i == 0 {
				return e.Int()
			}
		}
		return 0
	}
	for _, tc := range []struct {
		name string
		in   []byte
		code int64
	}{
		{"bad token", queryMsg(t, "f1", "announce_peer", map[string]any{"id": them, "info_hash": string(ih[:]), "port": 1, "token": "12345678"}), 203},
		{"token from another IP", nil, 203},
		{"no port", queryMsg(t, "f2", "announce_peer", map[string]any{"id": them, "info_hash": string(ih[:]), "token": string(token)}), 203},
		{"port out of range", queryMsg(t, "f3", "announce_peer", map[string]any{"id": them, "info_hash": string(ih[:]), "port": 70000, "token": string(token)}), 203},
		{"no id", queryMsg(t, "f4", "ping", map[string]any{}), 203},
		{"short id", queryMsg(t, "f5", "ping", map[string]any{"id": "abc"}), 203},
		{"no target", queryMsg(t, "f6", "find_node", map[string]any{"id": them}), 203},
		{"short info_hash", queryMsg(t, "f7", "get_peers", map[string]any{"id": them, "info_hash": "x"}), 203},
		{"unknown method", queryMsg(t, "f8", "put", map[string]any{"id": them}), 204},
		{"a is a list", encode(t, map[string]any{"t": "f9", "y": "q", "q": "ping", "a": []any{1}}), 203},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := from
			if tc.in == nil { // the token given to 127.0.0.9, used from elsewhere
				tc.in, src = queryMsg(t, "fa", "announce_peer", map[string]any{"id": them, "info_hash": string(ih[:]), "port": 1, "token": string(token)}), ap("127.0.0.10:5000")
			}
			v, ok := answer(t, n, c, tc.in, src)
			if !ok {
				t.Fatal("no answer")
			}
			if y, _ := v.Get("y").Text(); y != "e" || errCode(v) != tc.code {
				t.Errorf("answer %q, want error %d", v, tc.code)
			}
		})
	}

	for _, tc := range []struct {
		name string
		in   string
	}{
		{"garbage", "\xff\xfe garbage"},
		{"truncated", string(queryMsg(t, "gg", "ping", map[string]any{"id": them})[:20])},
		{"long t", string(queryMsg(t, strings.Repeat("t", 100), "ping", map[string]any{"id": them}))},
		{"response to nothing", string(encode(t, map[string]any{"t": "abcd", "y": "r", "r": map[string]any{"id": them}}))},
		{"error to nothing", "d1:eli201e1:xe1:t4:abcd1:y1:ee"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := answer(t, n, c, []byte(tc.in), from); ok {
				t.Error("answered")
			}
		})
	}
	if s := n.store; len(s.torrents) != 1 || s.n != 2 {
		t.Errorf("store: %d info-hashes, %d peers", len(s.torrents), s.n)
	}
}

// Answers always fit one datagram, whatever the query asks and whatever
// we hold: here a full table, 200 peers stored and a 32-byte t.
func TestReplySize(t *testing.T) {
	n, c := newTestNode(t, idOf(0x42, 1))
	fill(n, 1000)
	ih := idOf(0x43, 3)
	now := time.Now()
	for i := range maxPeersPer {
		n.store.add(ih, addrN(i), now)
	}
	from := ap("127.0.0.9:5000")
	themID := idOf(0x99, 9)
	them := string(themID[:])
	tid := strings.Repeat("t", maxTxnLen)
	for _, q := range []struct {
		method string
		args   map[string]any
	}{
		{"ping", map[string]any{"id": them}},
		{"find_node", map[string]any{"id": them, "target": string(ih[:])}},
		{"get_peers", map[string]any{"id": them, "info_hash": string(ih[:])}},
		{"nope", map[string]any{"id": them}},
	} {
		in := queryMsg(t, tid, q.method, q.args)
		n.handlePacket(in, from, now)
		out := c.take()
		if len(out) != 1 {
			t.Fatalf("%s: %d answers", q.method, len(out))
		}
		size := len(out[0].b)
		t.Logf("%s: query %d bytes, answer %d bytes", q.method, len(in), size)
		if size > 1472-500 { // an IPv4 UDP payload in a 1500-byte MTU, with room to spare
			t.Errorf("%s: answer of %d bytes", q.method, size)
		}
		if q.method == "get_peers" {
			v, _ := bencode.Decode(out[0].b)
			if got := v.Get("r").Get("values").Len(); got != maxValuesOut {
				t.Errorf("get_peers: %d values, want %d", got, maxValuesOut)
			}
		}
	}
}

// sendTo registers a query of n to addr and returns its transaction id.
func sendTo(t *testing.T, n *Node, c *memConn, addr netip.AddrPort, method string, resC chan reply) []byte {
	t.Helper()
	if err := n.send(addr, &query{method: method, target: idOf(7, 7)}, resC, time.Now()); err != nil {
		t.Fatal(err)
	}
	out := c.take()
	m, err := parseMsg(out[len(out)-1].b)
	if err != nil || m.y != 'q' || string(m.q) != method {
		t.Fatalf("sent %q: %v", out[0].b, err)
	}
	return bytes.Clone(m.t)
}

func TestResponseMatching(t *testing.T) {
	n, c := newTestNode(t, idOf(0x42, 1))
	resC := make(chan reply, 8)
	peer, other := ap("127.0.0.2:4000"), ap("127.0.0.3:4000")
	them := idOf(0x77, 7)
	tid := sendTo(t, n, c, peer, qGetPeers, resC)
	resp := func(tid []byte, id [20]byte, extra map[string]any) []byte {
		r := map[string]any{"id": string(id[:])}
		for k, v := range extra {
			r[k] = v
		}
		return encode(t, map[string]any{"t": string(tid), "y": "r", "r": r})
	}
	now := time.Now()
	// From the wrong address, or with another transaction id: dropped.
	n.handlePacket(resp(tid, idOf(0x66, 6), nil), other, now)
	wrongT := binary.BigEndian.AppendUint32(nil, binary.BigEndian.Uint32(tid)+1)
	n.handlePacket(resp(wrongT, idOf(0x66, 6), nil), peer, now)
	n.handlePacket(resp(tid[:2], idOf(0x66, 6), nil), peer, now)
	if len(resC) != 0 || len(n.pending) != 1 || n.responsesIn.Load() != 0 || n.tables[fam4].size() != 0 {
		t.Fatalf("a stray response was accepted: %d replies, %d pending", len(resC), len(n.pending))
	}
	// A hostile answer: 150 nodes (kept: 100), 450 values (kept: 200).
	var nodes []byte
	for i := range 150 {
		id := idOf(byte(i), 1)
		nodes = appendCompactAddr(append(nodes, id[:]...), netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)}), 1000))
	}
	var values []any
	for i := range 450 {
		values = append(values, string(appendCompactAddr(nil, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, byte(i >> 8), byte(i)}), 2000))))
	}
	big := resp(tid, them, map[string]any{"nodes": string(nodes), "values": values, "token": "tok"})
	if len(big) > maxPacket {
		t.Fatalf("test response of %d bytes is over the datagram bound", len(big))
	}
	n.handlePacket(big, peer, now)
	if len(resC) != 1 {
		t.Fatal("the right response was not delivered")
	}
	r := <-resC
	if r.err != nil || r.id != them || len(r.nodes) != maxNodesIn || len(r.values) != maxValuesIn || string(r.token) != "tok" {
		t.Errorf("reply: err %v, %d nodes, %d values, token %q", r.err, len(r.nodes), len(r.values), r.token)
	}
	if n.tables[fam4].size() != 1 || n.responsesIn.Load() != 1 || len(n.pending) != 0 {
		t.Errorf("table %d, responses %d, pending %d", n.tables[fam4].size(), n.responsesIn.Load(), len(n.pending))
	}
	// A replayed response no longer matches.
	n.handlePacket(big, peer, now)
	if len(resC) != 0 || n.responsesIn.Load() != 1 {
		t.Error("replayed response accepted")
	}
	// An answer claiming our own id is a failure and stays out of the table.
	tid = sendTo(t, n, c, other, qPing, resC)
	n.handlePacket(resp(tid, n.id, nil), other, now)
	if r := <-resC; r.err == nil || n.tables[fam4].size() != 1 {
		t.Error("an answer with our own id was accepted")
	}
}

func TestPendingBoundsAndTimeouts(t *testing.T) {
	n, c := newTestNode(t, idOf(0x42, 1))
	resC := make(chan reply, maxPending+1)
	now := time.Now()
	for i := range maxPending {
		if err := n.send(addrN(i), &query{method: qPing}, resC, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.send(addrN(9999), &query{method: qPing}, resC, now); err != errBusy {
		t.Errorf("query %d: err %v, want errBusy", maxPending+1, err)
	}
	c.take()
	n.expire(now.Add(queryTimeout - time.Millisecond))
	if len(resC) != 0 {
		t.Fatal("timed out early")
	}
	n.expire(now.Add(queryTimeout))
	if len(resC) != maxPending || len(n.pending) != 0 {
		t.Fatalf("%d timeouts delivered, %d pending", len(resC), len(n.pending))
	}
	if r := <-resC; r.err != errTimeout {
		t.Errorf("err %v", r.err)
	}
}

// A node that queries us is pinged when the table would take it, and
// enters the table once it answers; a read-only node is not pinged.
func TestQuerierPinged(t *testing.T) {
	n, c := newTestNode(t, idOf(0x42, 1))
	from := ap("127.0.0.5:5000")
	them := idOf(0x99, 9)
	now := time.Now()
	n.handlePacket(queryMsg(t, "ro", "ping", map[string]any{"id": string(them[:]), "ro": 1}), from, now)
	if out := c.take(); len(out) != 1 {
		t.Fatalf("read-only querier: %d datagrams, want only the answer", len(out))
	}
	n.handlePacket(queryMsg(t, "aa", "ping", map[string]any{"id": string(them[:])}), from, now)
	out := c.take()
	if len(out) != 2 {
		t.Fatalf("%d datagrams, want the answer and our ping", len(out))
	}
	m, _ := parseMsg(out[1].b)
	if string(m.q) != qPing {
		t.Fatalf("second datagram %q", out[1].b)
	}
	n.handlePacket(encode(t, map[string]any{"t": string(m.t), "y": "r", "r": map[string]any{"id": string(them[:])}}), from, now)
	if n.tables[fam4].size() != 1 || len(n.pinging) != 0 {
		t.Errorf("table %d, pinging %d", n.tables[fam4].size(), len(n.pinging))
	}
}
