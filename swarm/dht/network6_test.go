package dht

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// startNode6 starts a node on an IPv6-only socket on [::1] (any port)
// and closes it at the end of the test. All its peers share ::1, so the
// per-IP query bound is raised.
func startNode6(t testing.TB, cfg Config) *Node {
	t.Helper()
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	cfg.Conn = conn
	if cfg.QueryRate == 0 {
		cfg.QueryRate = 10000
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// A small DHT on [::1]: bootstrap, announce and lookup in the IPv6 DHT,
// nodes6 and 18-byte values on the wire, and a restart from saved nodes.
func TestNetwork6(t *testing.T) {
	nodes := []*Node{startNode6(t, Config{})}
	boot := []string{nodes[0].Addr().String()}
	for range 9 {
		nodes = append(nodes, startNode6(t, Config{Bootstrap: boot}))
	}
	start := time.Now()
	waitFor(t, 20*time.Second, "every IPv6 table holds 8 nodes", func() bool {
		for _, n := range nodes {
			if s := n.Stats(); s.Nodes6 < bucketSize || s.Nodes != s.Nodes6 {
				return false
			}
		}
		return true
	})
	t.Logf("%d nodes bootstrapped in %v", len(nodes), time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ih := [20]byte{0x66, 0x66}
	const port = 6006
	announcer, seeker := nodes[3], nodes[7]
	accepted, err := announcer.Announce(ctx, ih, port, func(p []netip.AddrPort) { t.Errorf("announcer found %v", p) })
	if err != nil || accepted < bucketSize/2 {
		t.Fatalf("Announce: %d nodes accepted, err %v", accepted, err)
	}
	found, got := collect()
	if _, err := seeker.Announce(ctx, ih, 0, found); err != nil {
		t.Fatal(err)
	}
	want := netip.AddrPortFrom(netip.IPv6Loopback(), port)
	if !slices.Contains(got(), want) {
		t.Fatalf("lookup found %v, want %v", got(), want)
	}

	// On the wire: a raw IPv6 querier gets nodes6 and 18-byte values.
	raw, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	p := &udpPeer{t, raw}
	id := strings.Repeat("r", 20)
	for _, q := range []string{
		"d1:ad2:id20:" + id + "6:target20:" + string(ih[:]) + "e1:q9:find_node1:t2:fn1:y1:qe",
		"d1:ad2:id20:" + id + "9:info_hash20:" + string(ih[:]) + "4:wantl2:n42:n6ee1:q9:get_peers1:t2:gp1:y1:qe",
	} {
		p.send([]byte(q), seeker.Addr())
		var m msg
		for {
			var ok bool
			if m, _, ok = p.recv(3 * time.Second); !ok {
				t.Fatal("no answer from the node")
			}
			if m.y == 'r' {
				break // (the node may also ping us)
			}
		}
		if nodes := m.r.Get("nodes"); nodes != nil {
			t.Errorf("%s: nodes sent by an IPv6-only node", m.t)
		}
		n6 := parseNodes6(nil, m.r.Get("nodes6").Bytes(), 100, netip.IPv6Loopback())
		if len(n6) != bucketSize {
			t.Errorf("%s: %d nodes6, want %d", m.t, len(n6), bucketSize)
		}
		for _, ni := range n6 {
			if ni.addr.Addr() != netip.IPv6Loopback() {
				t.Errorf("%s: nodes6 names %v", m.t, ni.addr)
			}
		}
		if string(m.t) == "gp" {
			vals := m.r.Get("values")
			for _, v := range vals.Items() {
				if len(v.Bytes()) != 18 {
					t.Errorf("a %d-byte value", len(v.Bytes()))
				}
			}
			// The seeker holds the peer only if it is among the closest.
			t.Logf("seeker's values: %v", parseValues(nil, vals, 100, netip.IPv6Loopback()))
		}
	}

	// Saved IPv6 nodes bring a restarted node back into the IPv6 DHT.
	old := nodes[9]
	saved := old.Nodes()
	path := filepath.Join(t.TempDir(), "dht.nodes")
	if err := SaveNodes(path, saved); err != nil {
		t.Fatal(err)
	}
	old.Close()
	loaded, err := LoadNodes(path)
	if err != nil || len(loaded) < bucketSize || !slices.Equal(loaded, saved) {
		t.Fatalf("LoadNodes = %v, %v; saved %v", loaded, err, saved)
	}
	n := startNode6(t, Config{Nodes: loaded})
	waitFor(t, 10*time.Second, "the restarted node's table fills", func() bool { return n.Stats().Nodes6 >= bucketSize })
	found, got = collect()
	if _, err := n.Announce(ctx, ih, 0, found); err != nil || !slices.Contains(got(), want) {
		t.Errorf("restarted node found %v, %v; want %v", got(), err, want)
	}
}

// loopbackConn is a socket that drops datagrams from anything but
// loopback and refuses to send elsewhere, so that a node on a dual-stack
// socket bound to [::] still talks to loopback only.
type loopbackConn struct{ *net.UDPConn }

func (c loopbackConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil || a.Addr().Unmap().IsLoopback() {
			return n, net.UDPAddrFromAddrPort(a), err
		}
	}
}

func (c loopbackConn) WriteTo(b []byte, a net.Addr) (int, error) {
	if ua, ok := a.(*net.UDPAddr); !ok || !ua.IP.IsLoopback() {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: a, Err: os.ErrPermission}
	}
	return c.UDPConn.WriteTo(b, a)
}

// A dual-stack node between an IPv4 DHT on 127.0.0.0/8 and an IPv6 DHT
// on ::1 keeps one table per family, finds the peers of both, and each
// single-family node finds its own family's peers only.
func TestDualStackNetwork(t *testing.T) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no dual-stack socket: %v", err)
	}
	la := unmap(udp.LocalAddr().(*net.UDPAddr).AddrPort())
	if f := socketFamilies(la, udp); f != setBoth || v6only(udp) {
		udp.Close()
		t.Skipf("the socket on %v is not dual-stack (families %b)", la, f)
	}
	d, err := New(Config{Conn: loopbackConn{udp}, QueryRate: 10000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if d.fams != setBoth {
		t.Fatalf("dual node families %b", d.fams)
	}
	port := d.Addr().Port()
	boot4 := []string{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String()}
	boot6 := []string{netip.AddrPortFrom(netip.IPv6Loopback(), port).String()}
	var v4, v6 []*Node
	for i := range 3 {
		v4 = append(v4, startNode(t, "127.0.0."+string(rune('2'+i)), Config{Bootstrap: boot4}))
		v6 = append(v6, startNode6(t, Config{Bootstrap: boot6}))
	}
	waitFor(t, 20*time.Second, "the dual node knows all, each other node the rest of its family", func() bool {
		if s := d.Stats(); s.Nodes != 6 || s.Nodes6 != 3 {
			return false
		}
		for _, n := range append(slices.Clone(v4), v6...) {
			if n.Stats().Nodes != 3 {
				return false
			}
		}
		return true
	})
	for _, a := range d.Nodes() {
		t4 := d.tables[fam4].addrs
		if _, in4 := t4[a]; in4 != a.Addr().Is4() {
			t.Errorf("%v in the wrong table", a)
		}
	}
	for _, n := range v6 {
		if s := n.Stats(); s.Nodes6 != 3 {
			t.Errorf("IPv6 node %v: %+v", n.Addr(), s)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ih := [20]byte{0xd0, 0x0a}
	if _, err := v4[0].Announce(ctx, ih, 7004, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := v6[0].Announce(ctx, ih, 7006, nil); err != nil {
		t.Fatal(err)
	}
	peer4 := netip.AddrPortFrom(v4[0].Addr().Addr(), 7004)
	peer6 := netip.AddrPortFrom(netip.IPv6Loopback(), 7006)
	found, got := collect()
	accepted, err := d.Announce(ctx, ih, 7000, found)
	if err != nil || accepted != 6 {
		t.Fatalf("dual node's announce: %d accepted (want the 3 nodes of each family), err %v", accepted, err)
	}
	if !slices.Contains(got(), peer4) || !slices.Contains(got(), peer6) {
		t.Errorf("dual node found %v, want %v and %v", got(), peer4, peer6)
	}
	for _, tc := range []struct {
		n          *Node
		want, also netip.AddrPort
	}{
		{v4[1], peer4, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 7000)},
		{v6[1], peer6, netip.AddrPortFrom(netip.IPv6Loopback(), 7000)},
	} {
		found, got := collect()
		if _, err := tc.n.Announce(ctx, ih, 0, found); err != nil {
			t.Fatal(err)
		}
		for _, p := range got() {
			if p.Addr().Is4() != tc.want.Addr().Is4() {
				t.Errorf("node on %v found %v of the other family", tc.n.Addr(), p)
			}
		}
		if !slices.Contains(got(), tc.want) || !slices.Contains(got(), tc.also) {
			t.Errorf("node on %v found %v, want %v and the dual node's %v", tc.n.Addr(), got(), tc.want, tc.also)
		}
	}
	// The dual node's saved table keeps both families.
	path := filepath.Join(t.TempDir(), "dht.nodes")
	if err := SaveNodes(path, d.Nodes()); err != nil {
		t.Fatal(err)
	}
	loaded, _ := LoadNodes(path)
	var n4, n6 int
	for _, a := range loaded {
		if a.Addr().Is4() {
			n4++
		} else {
			n6++
		}
	}
	if n4 != 3 || n6 != 3 {
		t.Errorf("saved %d IPv4 and %d IPv6 nodes, want 3 and 3", n4, n6)
	}
}
