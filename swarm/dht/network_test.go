package dht

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// startNode starts a node on ip (any port) and closes it at the end of
// the test.
func startNode(t testing.TB, ip string, cfg Config) *Node {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Conn = conn
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startNetwork starts count nodes on 127.0.0.(first+i); all bootstrap
// from the first, and the call returns once every table holds k nodes.
func startNetwork(t *testing.T, count, first int) []*Node {
	nodes := []*Node{startNode(t, fmt.Sprintf("127.0.0.%d", first), Config{})}
	boot := []string{nodes[0].Addr().String()}
	for i := 1; i < count; i++ {
		nodes = append(nodes, startNode(t, fmt.Sprintf("127.0.0.%d", first+i), Config{Bootstrap: boot}))
	}
	start := time.Now()
	waitFor(t, 20*time.Second, "every table holds 8 nodes", func() bool {
		for _, n := range nodes {
			if n.Stats().Nodes < bucketSize {
				return false
			}
		}
		return true
	})
	t.Logf("%d nodes bootstrapped in %v", count, time.Since(start).Round(time.Millisecond))
	return nodes
}

// collect returns a found callback and a way to read what it got.
func collect() (func([]netip.AddrPort), func() []netip.AddrPort) {
	var mu sync.Mutex
	var got []netip.AddrPort
	return func(b []netip.AddrPort) {
			mu.Lock()
			got = append(got, b...)
			mu.Unlock()
		}, func() []netip.AddrPort {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(got)
		}
}

func TestNetwork(t *testing.T) {
	nodes := startNetwork(t, 20, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ih := [20]byte{0xde, 0xad, 0xbe, 0xef}
	const port = 4242
	announcer, seeker := nodes[5], nodes[13]
	start := time.Now()
	accepted, err := announcer.Announce(ctx, ih, port, func(p []netip.AddrPort) { t.Errorf("announcer found %v", p) })
	if err != nil || accepted < bucketSize/2 {
		t.Fatalf("Announce: %d nodes accepted, err %v", accepted, err)
	}
	t.Logf("announce: %d nodes accepted in %v", accepted, time.Since(start).Round(time.Millisecond))
	found, got := collect()
	if _, err := seeker.Announce(ctx, ih, 0, found); err != nil {
		t.Fatal(err)
	}
	want := netip.AddrPortFrom(announcer.Addr().Addr(), port)
	if !slices.Contains(got(), want) {
		t.Fatalf("lookup found %v, want %v", got(), want)
	}
	stored := 0
	for _, n := range nodes {
		stored += n.Stats().StoredPeers
	}
	if stored < accepted {
		t.Errorf("%d peers stored in the network, %d announces accepted", stored, accepted)
	}
	// An unknown info-hash finds nothing, and still ends.
	found, got = collect()
	if _, err := seeker.Announce(ctx, [20]byte{1}, 0, found); err != nil || len(got()) != 0 {
		t.Errorf("unknown info-hash: %v, %v", got(), err)
	}
}

func TestRestartFromSavedNodes(t *testing.T) {
	nodes := startNetwork(t, 12, 40)
	ih := [20]byte{0x12, 0x34}
	const port = 5151
	if _, err := nodes[4].Announce(context.Background(), ih, port, nil); err != nil {
		t.Fatal(err)
	}
	old := nodes[9]
	saved := old.Nodes()
	if len(saved) < bucketSize {
		t.Fatalf("only %d good nodes to save", len(saved))
	}
	path := filepath.Join(t.TempDir(), "dht.nodes")
	if err := SaveNodes(path, saved); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadNodes(path)
	if err != nil || !slices.Equal(loaded, saved) {
		t.Fatalf("LoadNodes = %v, %v; saved %v", loaded, err, saved)
	}
	// No bootstrap: the saved nodes are all the new node knows.
	n := startNode(t, old.Addr().Addr().String(), Config{Nodes: loaded})
	waitFor(t, 10*time.Second, "the restarted node's table fills", func() bool { return n.Stats().Nodes >= bucketSize })
	found, got := collect()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.Announce(ctx, ih, 0, found); err != nil {
		t.Fatal(err)
	}
	if want := netip.AddrPortFrom(nodes[4].Addr().Addr(), port); !slices.Contains(got(), want) {
		t.Errorf("found %v, want %v", got(), want)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without Conn succeeded")
	}
	// An IPv6-only socket is accepted since BEP 32: see TestSocketFamilies.
}

func TestCloseUnblocks(t *testing.T) {
	// A lookup waiting on a node that never answers ends when the node closes.
	silent, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	n := startNode(t, "127.0.0.1", Config{Bootstrap: []string{silent.LocalAddr().String()}})
	done := make(chan error, 1)
	go func() {
		_, err := n.Announce(context.Background(), [20]byte{9}, 1, nil)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	n.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Announce on a closed node succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Announce did not return after Close")
	}
	if _, err := n.Announce(context.Background(), [20]byte{9}, 1, nil); err == nil {
		t.Error("Announce after Close succeeded")
	}
	if n.Nodes() != nil {
		t.Error("Nodes after Close")
	}
	n.AddNode(ap("127.0.0.1:1")) // must not block or panic
}
