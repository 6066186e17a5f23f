package dht

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// udpPeer is a raw socket playing a remote node.
type udpPeer struct {
	t    *testing.T
	conn *net.UDPConn
}

func newUDPPeer(t *testing.T, ip string) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPeer{t, c}
}

func (p *udpPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *udpPeer) send(b []byte, to netip.AddrPort) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next message within d, or ok false.
func (p *udpPeer) recv(d time.Duration) (msg, []byte, bool) {
	p.t.Helper()
	buf := make([]byte, 64<<10)
	p.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return msg{}, nil, false
	}
	m, err := parseMsg(buf[:n])
	if err != nil {
		p.t.Fatalf("node sent an undecodable message %q: %v", buf[:n], err)
	}
	return m, buf[:n], true
}

// Garbage of every kind is dropped or answered with an error, and the
// node keeps answering.
func TestHostileDatagrams(t *testing.T) {
	n := startNode(t, "127.0.0.1", Config{})
	p := newUDPPeer(t, "127.0.0.2")
	id := strings.Repeat("i", 20)
	ping := "d1:ad2:id20:" + id + "e1:q4:ping1:t2:pp1:y1:qe"
	for _, junk := range []string{
		"", "\x00", "garbage", "d", "de", "le", "i1e", "d1:t2:aae",
		ping[:len(ping)-1], ping[:10],
		strings.Repeat("l", 10000),
		strings.Repeat("d1:a", 1000),
		"d1:ad2:id20:" + id + "e1:q4:ping1:t99999999999:x1:y1:qe",
		"d1:ad2:id3:abce1:q4:ping1:t2:xx1:y1:qe",         // short id: 203
		"d1:ad2:id20:" + id + "e1:q4:nope1:t2:xx1:y1:qe", // 204
		"d1:rd2:id20:" + id + "e1:t4:abcd1:y1:re",        // unsolicited response
		string(make([]byte, 60000)),                      // oversized
		"d1:ad2:id20:" + id + "e1:q4:ping1:t2:xx1:y1:q" + strings.Repeat("x", 9000) + "e",
	} {
		p.send([]byte(junk), n.Addr())
	}
	p.send([]byte(ping), n.Addr())
	deadline := time.Now().Add(3 * time.Second)
	errors := 0
	for time.Now().Before(deadline) {
		m, raw, ok := p.recv(time.Until(deadline))
		if !ok {
			t.Fatal("the node stopped answering after garbage")
		}
		if m.y == 'e' {
			errors++
			continue
		}
		if m.y != 'r' || string(m.t) != "pp" {
			t.Fatalf("unexpected answer %q", raw)
		}
		break
	}
	if errors != 2 {
		t.Errorf("%d error answers, want 2 (203 and 204)", errors)
	}
	if s := n.Stats(); s.ResponsesIn != 0 || s.Nodes != 0 {
		t.Errorf("stats after garbage: %+v", s)
	}
}

// A bootstrap node that answers with too much, and a stranger answering
// in its place: the node takes only the bounded, matching parts.
func TestHostileResponses(t *testing.T) {
	evil := newUDPPeer(t, "127.0.0.3")
	stranger := newUDPPeer(t, "127.0.0.4")
	n := startNode(t, "127.0.0.1", Config{Bootstrap: []string{evil.addr().String()}})
	m, _, ok := evil.recv(3 * time.Second)
	if !ok || string(m.q) != qFindNode {
		t.Fatalf("no bootstrap find_node: %q", m.q)
	}
	evilID, strangerID := idOf(0xee, 0xee), idOf(0x55, 0x55)
	// Nodes on 127.66.0.0/16, port 9: nothing listens there.
	var nodes []byte
	for i := range 300 {
		id := idOf(byte(i), byte(i>>8))
		nodes = appendCompactAddr(append(nodes, id[:]...), netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 66, byte(i >> 8), byte(i)}), 9))
	}
	resp := func(id [20]byte, nodes []byte) []byte {
		var b []byte
		b = append(b, "d1:rd2:id20:"...)
		b = append(b, id[:]...)
		b = append(b, "5:nodes"...)
		b = appendBytes(b, nodes)
		b = append(b, "e1:t"...)
		b = appendBytes(b, m.t)
		return append(b, "1:y1:re"...)
	}
	stranger.send(resp(strangerID, nil), n.Addr()) // wrong address
	// The largest datagram UDP carries: 2500 nodes, 65 KB, dropped unread.
	// (5000 nodes, 130 KB, cannot be sent; TestHugeResponse hands such a
	// buffer to the handler directly.)
	huge := resp(evilID, bytes.Repeat(nodes, 9)[:2500*compactNodeLen])
	evil.send(huge, n.Addr())
	ok8k := resp(evilID, nodes)
	if len(ok8k) > maxPacket {
		t.Fatalf("%d-byte response", len(ok8k))
	}
	evil.send(ok8k, n.Addr()) // 300 nodes: 100 examined
	waitFor(t, 3*time.Second, "the evil node's answer is taken", func() bool { return n.Stats().ResponsesIn == 1 })
	time.Sleep(200 * time.Millisecond)
	s := n.Stats()
	if s.ResponsesIn != 1 || s.Nodes != 1 {
		t.Errorf("stats %+v: want only the evil node's one answer and itself in the table", s)
	}
	if got := n.Nodes(); !slices.Equal(got, []netip.AddrPort{evil.addr()}) {
		t.Errorf("table %v, want only %v", got, evil.addr())
	}
	var pending int
	n.do(context.Background(), func() { pending = len(n.pending) })
	if pending > alpha {
		t.Errorf("%d queries pending, want at most alpha", pending)
	}
}

// A flood from one address is cut to its per-IP share; other addresses
// are still answered during it and Stats shows the drops.
func TestQueryFlood(t *testing.T) {
	n := startNode(t, "127.0.0.1", Config{QueryRate: 100})
	flood, other := newUDPPeer(t, "127.0.0.5"), newUDPPeer(t, "127.0.0.6")
	ping := func(id byte, tid string) []byte {
		return []byte("d1:ad2:id20:" + strings.Repeat(string(id), 20) + "e1:q4:ping1:t2:" + tid + "1:y1:qe")
	}
	answered := make(chan int)
	go func() { // count the answers the flooder gets
		answers := 0
		buf := make([]byte, 2048)
		for {
			flood.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			nr, _, err := flood.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				answered <- answers
				return
			}
			if m, err := parseMsg(buf[:nr]); err == nil && m.y == 'r' && string(m.t) == "ff" {
				answers++ // (the node also pings the flooder, to know it)
			}
		}
	}()
	stop, sent := make(chan struct{}), make(chan int)
	go func() { // bursts of 200 with a pause, so that the flooder leaves the reader a CPU
		count := 0
		for {
			select {
			case <-stop:
				sent <- count
				return
			case <-time.After(time.Millisecond):
			}
			for range 200 {
				flood.conn.WriteToUDPAddrPort(ping('f', "ff"), n.Addr())
				count++
			}
		}
	}()
	start := time.Now()
	otherAnswers := 0
	for i := range 20 { // 1 s of flood; kernel buffers drop some of these too
		other.send(ping('o', fmt.Sprintf("%02d", i)), n.Addr())
		if m, _, ok := other.recv(50 * time.Millisecond); ok && m.y == 'r' {
			otherAnswers++
		}
	}
	close(stop)
	floodSent := <-sent
	secs := int(time.Since(start)/time.Second) + 1
	answers := <-answered
	s := n.Stats()
	t.Logf("flood: %d sent, %d received, %d dropped, %d answered to the flooder in ~%ds; %d/20 answered to another address",
		floodSent, s.QueriesIn, s.QueriesDropped, answers, secs, otherAnswers)
	if otherAnswers == 0 {
		t.Errorf("another address got %d answers of 20 during the flood", otherAnswers)
	}
	if answers > 10*(secs+1) || answers == 0 {
		t.Errorf("the flooder got %d answers in ~%d s, want at most 10/s", answers, secs)
	}
	if answered := s.QueriesIn - s.QueriesDropped; s.QueriesDropped == 0 || answered > uint64(answers+20) {
		t.Errorf("stats %+v: %d queries answered, want %d to the flooder and at most 20 others", s, answered, answers)
	}
	time.Sleep(time.Second) // the other address's own per-IP share renews
	other.send(ping('o', "zz"), n.Addr())
	for deadline := time.Now().Add(time.Second); ; {
		m, _, ok := other.recv(time.Until(deadline))
		if !ok {
			t.Fatal("not answered after the flood")
		}
		if m.y == 'r' && string(m.t) == "zz" {
			break
		}
	}
}

// A response of 5000 nodes (130 KB, more than UDP carries) handed to the
// handler costs nothing: it is dropped before decoding.
func TestHugeResponse(t *testing.T) {
	n, c := newTestNode(t, idOf(0x42, 1))
	resC := make(chan reply, 1)
	peer := ap("127.0.0.2:4000")
	tid := sendTo(t, n, c, peer, qFindNode, resC)
	var b []byte
	b = append(b, "d1:rd2:id20:"...)
	b = append(b, bytes.Repeat([]byte{7}, 20)...)
	b = append(b, "5:nodes130000:"...)
	for i := range 5000 {
		id := idOf(byte(i), byte(i>>8))
		b = appendCompactAddr(append(b, id[:]...), netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 66, byte(i >> 8), byte(i)}), 9))
	}
	b = append(b, "e1:t4:"...)
	b = append(b, tid...)
	b = append(b, "1:y1:re"...)
	allocs := testing.AllocsPerRun(10, func() { n.handlePacket(b, peer, time.Now()) })
	if len(resC) != 0 || len(n.pending) != 1 || allocs > 0 {
		t.Errorf("5000-node response: %d replies, %d pending, %v allocations", len(resC), len(n.pending), allocs)
	}
}
