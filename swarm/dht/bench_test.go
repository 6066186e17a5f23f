package dht

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// BenchmarkDecodeGetPeersResponse: a full get_peers answer (8 nodes, 50
// values, a token) decoded and copied as the loop does for a lookup.
func BenchmarkDecodeGetPeersResponse(b *testing.B) {
	var r response
	r.withNodes = true
	for i := range bucketSize {
		r.nodes = append(r.nodes, nodeInfo{id: idOf(byte(i), 3), addr: addrN(i)})
	}
	for i := range maxValuesOut {
		r.values = append(r.values, addrN(100+i))
	}
	r.token = []byte("12345678")
	pkt := appendResponse(nil, []byte{1, 2, 3, 4}, idOf(7, 7), &r)
	from := netip.MustParseAddr("10.0.0.1")
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := parseMsg(pkt)
		if err != nil {
			b.Fatal(err)
		}
		var rep reply
		id, _ := id20(m.r, "id")
		rep.id = id
		readReply(m.r, from, &rep)
		if len(rep.values) != maxValuesOut || len(rep.nodes) != bucketSize {
			b.Fatalf("%d values, %d nodes", len(rep.values), len(rep.nodes))
		}
	}
}

// Answering a query allocates nothing when Conn is a *net.UDPConn.
func TestHandleQueryAllocs(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	n, err := newNode(Config{Conn: conn, ID: idOf(0x42, 1), QueryRate: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sink := newUDPPeer(t, "127.0.0.1") // receives, never reads: the kernel drops the excess
	fill(n, 500)
	ih := idOf(0x43, 3)
	now := time.Now()
	for i := range 100 {
		n.store.add(ih, addrN(i), now)
	}
	id := strings.Repeat("q", 20)
	pkt := []byte("d1:ad2:id20:" + id + "9:info_hash20:" + string(ih[:]) + "e1:q9:get_peers1:t2:aa1:y1:qe")
	n.handlePacket(pkt, sink.addr(), now) // the first query pings the querier
	if allocs := testing.AllocsPerRun(100, func() { n.handlePacket(pkt, sink.addr(), now) }); allocs != 0 {
		t.Errorf("%v allocations per get_peers query", allocs)
	}
}

// BenchmarkHandleQuery: one query handled and answered by a node with a
// 500-node table and 100 peers stored for the info-hash. (The fake Conn
// converts each address to a net.Addr: 2 allocations that a *net.UDPConn
// does not make, see TestHandleQueryAllocs.)
func BenchmarkHandleQuery(b *testing.B) {
	n, err := newNode(Config{Conn: newMemConn(false), ID: idOf(0x42, 1), QueryRate: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	fill(n, 500)
	ih := idOf(0x43, 3)
	now := time.Now()
	for i := range 100 {
		n.store.add(ih, addrN(i), now)
	}
	id := strings.Repeat("q", 20)
	for _, q := range []struct{ name, msg string }{
		{"ping", "d1:ad2:id20:" + id + "e1:q4:ping1:t2:aa1:y1:qe"},
		{"find_node", "d1:ad2:id20:" + id + "6:target20:" + string(ih[:]) + "e1:q9:find_node1:t2:aa1:y1:qe"},
		{"get_peers", "d1:ad2:id20:" + id + "9:info_hash20:" + string(ih[:]) + "e1:q9:get_peers1:t2:aa1:y1:qe"},
	} {
		b.Run(q.name, func(b *testing.B) {
			pkt := []byte(q.msg)
			from := netip.MustParseAddrPort("10.9.9.9:6881")
			b.ReportAllocs()
			for b.Loop() {
				n.handlePacket(pkt, from, now)
			}
		})
	}
}
