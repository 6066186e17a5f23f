package dht

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/bencode"
)

// fuzzTID is the transaction id of the query the fuzzed node always has
// pending to fuzzPeer, so that fuzzed responses reach the response path.
const fuzzTID = 0x01020304

var fuzzPeer = netip.MustParseAddrPort("127.0.0.2:6881")

// seedMessages are realistic KRPC messages: ours, and the shapes
// libtorrent 2.0 sends (extra keys such as bs, seed, ip, p, ro).
func seedMessages() []string {
	id := strings.Repeat("I", 20)
	ih := strings.Repeat("H", 20)
	node := id + "\x7f\x00\x00\x03\x1a\xe1"
	tid := string(binary.BigEndian.AppendUint32(nil, fuzzTID))
	var ours []string
	for _, q := range []*query{
		{method: qPing}, {method: qFindNode, target: [20]byte{1}}, {method: qGetPeers, target: [20]byte{2}},
		{method: qAnnouncePeer, target: [20]byte{3}, port: 6881, token: []byte("12345678")},
	} {
		ours = append(ours, string(appendQuery(nil, []byte("aa"), [20]byte{9}, q)))
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
		"d1:t2:aa1:y1:qe",
		"garbage", "", "d", "i-0e", "l"+strings.Repeat("d1:al", 20),
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
	resC := make(chan reply, 4)
	f.Fuzz(func(t *testing.T, b []byte) {
		// The decoder alone.
		if m, err := parseMsg(b); err == nil {
			id20(m.a, "id")
			if m.y == 'r' {
				var rep reply
				readReply(m.r, fuzzPeer.Addr(), &rep)
				if len(rep.nodes) > maxNodesIn || len(rep.values) > maxValuesIn || len(rep.token) > maxTokenLen {
					t.Fatalf("reply over bounds: %d nodes, %d values, %d-byte token", len(rep.nodes), len(rep.values), len(rep.token))
				}
			}
		}
		// The whole packet handler, with a transaction waiting.
		if _, ok := n.pending[fuzzTID]; !ok {
			n.pending[fuzzTID] = pending{addr: fuzzPeer, deadline: now.Add(time.Hour), resC: resC}
		}
		n.handlePacket(b, fuzzPeer, now)
		for len(resC) > 0 {
			<-resC
		}
		for _, s := range c.take() {
			if len(s.b) > 1472 {
				t.Fatalf("sent %d bytes", len(s.b))
			}
			if _, err := bencode.Decode(s.b); err != nil {
				t.Fatalf("sent an undecodable message %q: %v", s.b, err)
			}
		}
		if len(n.pending) > maxPending || n.table.size() > maxBuckets*bucketSize ||
			len(n.store.torrents) > maxTorrents || n.store.n > maxTorrents*maxPeersPer {
			t.Fatalf("state over bounds: %d pending, %d nodes, %d torrents, %d peers",
				len(n.pending), n.table.size(), len(n.store.torrents), n.store.n)
		}
	})
}

// Seeds are valid where they mean to be: every one of ours decodes.
func TestSeedMessages(t *testing.T) {
	for _, s := range seedMessages()[:12] {
		if _, err := parseMsg([]byte(s)); err != nil {
			t.Errorf("seed %q: %v", s, err)
		}
	}
}
