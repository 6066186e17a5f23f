package dht

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	zb "github.com/zeebo/bencode"
)

func TestParseMsg(t *testing.T) {
	id := strings.Repeat("a", 20)
	for _, tc := range []struct {
		name, in string
		y        byte
		q, err   string
		canReply bool // m.t set: a 203 can be sent
	}{
		{"ping", "d1:ad2:id20:" + id + "e1:q4:ping1:t2:aa1:y1:qe", 'q', "ping", "", true},
		{"find_node", "d1:ad2:id20:" + id + "6:target20:" + id + "e1:q9:find_node1:t2:aa1:y1:qe", 'q', "find_node", "", true},
		{"response", "d1:rd2:id20:" + id + "e1:t4:abcd1:y1:re", 'r', "", "", true},
		{"error", "d1:eli201e15:A Generic Errore1:t2:aa1:y1:ee", 'e', "", "", true},
		{"error odd shape", "d1:e3:xyz1:t2:aa1:y1:ee", 'e', "", "", true},
		{"with v", "d1:rd2:id20:" + id + "e1:t2:aa1:v4:LT011:y1:re", 'r', "", "", true},
		{"query without a", "d1:q4:ping1:t2:aa1:y1:qe", 'q', "", "query without", true},
		{"a not a dict", "d1:ai1e1:q4:ping1:t2:aa1:y1:qe", 'q', "", "query without", true},
		{"response without r", "d1:t2:aa1:y1:re", 'r', "", "response without", true},
		{"no t", "d1:ad2:id20:" + id + "e1:q4:ping1:y1:qe", 0, "", "transaction", false},
		{"long t", "d1:ad2:id20:" + id + "e1:q4:ping1:t40:" + strings.Repeat("x", 40) + "1:y1:qe", 0, "", "transaction", false},
		{"unknown y", "d1:t2:aa1:y1:ze", 0, "", "message type", false},
		{"no y", "d1:t2:aae", 0, "", "message type", false},
		{"list", "l1:ae", 0, "", "not a dictionary", false},
		{"truncated", "d1:ad2:id20:" + id, 0, "", "end of input", false},
		{"garbage", "\x00\x01\x02", 0, "", "unexpected byte", false},
		{"empty", "", 0, "", "end of input", false},
		{"trailing", "d1:t2:aa1:y1:rei1e", 0, "", "trailing", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseMsg([]byte(tc.in))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if (m.t != nil) != tc.canReply {
				t.Errorf("t = %q, can reply = %v", m.t, tc.canReply)
			}
			if tc.canReply && m.y != tc.y || string(m.q) != tc.q {
				t.Errorf("y, q = %c, %q; want %c, %q", m.y, m.q, tc.y, tc.q)
			}
		})
	}
	m, err := parseMsg([]byte("d1:eli203e9:Bad Tokene1:t2:aa1:y1:ee"))
	if err != nil || m.code != 203 || string(m.text) != "Bad Token" {
		t.Errorf("error message: %+v, %v", m, err)
	}
	if _, err := parseMsg(make([]byte, maxPacket+1)); err == nil {
		t.Error("oversized datagram parsed")
	}
}

// The hand-written encoders must produce exactly zeebo/bencode's
// canonical encoding of the same message.
func TestEncodeCanonical(t *testing.T) {
	id, target := idOf(1, 2), idOf(3, 4)
	tid := []byte{9, 8, 7, 6}
	peer4, peer6 := ap("10.1.2.3:6881"), ap("[2001:db8::1]:51413")
	n1 := nodeInfo{id: idOf(5, 5), addr: ap("10.0.0.5:1000")}
	n2 := nodeInfo{id: idOf(6, 6), addr: ap("10.0.0.6:2000")}
	n6 := nodeInfo{id: idOf(7, 7), addr: ap("[2001:db8::7]:3000")}
	compact := func(ns ...nodeInfo) string {
		var b []byte
		for _, n := range ns {
			b = append(b, n.id[:]...)
			b = appendCompactAddr(b, n.addr)
		}
		return string(b)
	}
	tail := func(m map[string]any, y string) map[string]any {
		m["t"], m["v"], m["y"] = string(tid), clientVersion, y
		return m
	}
	for _, tc := range []struct {
		name string
		got  []byte
		want map[string]any
	}{
		{"ping", appendQuery(nil, tid, id, &query{method: qPing}),
			tail(map[string]any{"q": "ping", "a": map[string]any{"id": string(id[:])}}, "q")},
		{"find_node", appendQuery(nil, tid, id, &query{method: qFindNode, target: target}),
			tail(map[string]any{"q": "find_node", "a": map[string]any{"id": string(id[:]), "target": string(target[:])}}, "q")},
		{"get_peers", appendQuery(nil, tid, id, &query{method: qGetPeers, target: target}),
			tail(map[string]any{"q": "get_peers", "a": map[string]any{"id": string(id[:]), "info_hash": string(target[:])}}, "q")},
		{"announce_peer", appendQuery(nil, tid, id, &query{method: qAnnouncePeer, target: target, port: 6881, token: []byte("tok")}),
			tail(map[string]any{"q": "announce_peer", "a": map[string]any{"id": string(id[:]), "info_hash": string(target[:]),
				"implied_port": 0, "port": 6881, "token": "tok"}}, "q")},
		{"ping response", appendResponse(nil, tid, id, &response{}),
			tail(map[string]any{"r": map[string]any{"id": string(id[:])}}, "r")},
		{"find_node response", appendResponse(nil, tid, id, &response{withNodes: true, nodes: []nodeInfo{n1, n6, n2}}),
			tail(map[string]any{"r": map[string]any{"id": string(id[:]), "nodes": compact(n1, n2)}}, "r")},
		{"empty find_node response", appendResponse(nil, tid, id, &response{withNodes: true}),
			tail(map[string]any{"r": map[string]any{"id": string(id[:]), "nodes": ""}}, "r")},
		{"get_peers response", appendResponse(nil, tid, id, &response{withNodes: true, nodes: []nodeInfo{n1},
			token: []byte("12345678"), values: []netip.AddrPort{peer4, peer6}}),
			tail(map[string]any{"r": map[string]any{"id": string(id[:]), "nodes": compact(n1), "token": "12345678",
				"values": []any{string(appendCompactAddr(nil, peer4)), string(appendCompactAddr(nil, peer6))}}}, "r")},
		{"error", appendError(nil, tid, codeMethod, "method unknown"),
			tail(map[string]any{"e": []any{204, "method unknown"}}, "e")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := zb.EncodeBytes(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tc.got, want) {
				t.Errorf("got  %q\nwant %q", tc.got, want)
			}
			if _, err := parseMsg(tc.got); err != nil {
				t.Errorf("our own message does not parse: %v", err)
			}
		})
	}
}

func TestParseNodes(t *testing.T) {
	lo, remote := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.9.9.9")
	entry := func(id byte, addr string) []byte {
		i := idOf(id, id)
		return appendCompactAddr(i[:], ap(addr))
	}
	var b []byte
	b = append(b, entry(1, "10.0.0.1:1")...)
	b = append(b, entry(2, "10.0.0.2:0")...)        // port 0
	b = append(b, entry(3, "0.0.0.0:5")...)         // unspecified
	b = append(b, entry(4, "224.0.0.1:5")...)       // multicast
	b = append(b, entry(5, "127.0.0.1:5")...)       // loopback
	b = append(b, entry(6, "255.255.255.255:5")...) // broadcast
	b = append(b, entry(7, "10.0.0.7:7")...)
	if got := parseNodes(nil, b, 100, remote); len(got) != 2 || got[0].id != idOf(1, 1) || got[1].addr != ap("10.0.0.7:7") {
		t.Errorf("from a remote source: %v", got)
	}
	if got := parseNodes(nil, b, 100, lo); len(got) != 3 {
		t.Errorf("from loopback: %d nodes, want 3 (loopback allowed)", len(got))
	}
	if got := parseNodes(nil, b[:len(b)-1], 100, lo); len(got) != 0 {
		t.Errorf("length not a multiple of 26: %d nodes", len(got))
	}
	var many []byte
	for i := range 300 {
		many = append(many, entry(byte(i), "10.0.0.1:1")...)
	}
	if got := parseNodes(nil, many, maxNodesIn, lo); len(got) != maxNodesIn {
		t.Errorf("300 nodes: kept %d, want %d", len(got), maxNodesIn)
	}
}

func TestParseValues(t *testing.T) {
	v4, v6 := appendCompactAddr(nil, ap("10.0.0.1:80")), appendCompactAddr(nil, ap("[2001:db8::1]:81"))
	list, _ := zb.EncodeBytes([]any{string(v4), string(v6), "short", 7, string(appendCompactAddr(nil, ap("10.0.0.2:0")))})
	m, err := parseMsg([]byte("d1:rd2:id20:" + strings.Repeat("a", 20) + "6:values" + string(list) + "e1:t2:aa1:y1:re"))
	if err != nil {
		t.Fatal(err)
	}
	got := parseValues(nil, m.r.Get("values"), maxValuesIn, netip.MustParseAddr("10.0.0.9"))
	if len(got) != 2 || got[0] != ap("10.0.0.1:80") || got[1] != ap("[2001:db8::1]:81") {
		t.Errorf("values = %v", got)
	}
}
