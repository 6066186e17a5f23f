package dht

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestBootstrapBackoff(t *testing.T) {
	n, _ := newTestNode(t, idOf(0x42, 1))
	now := time.Now()
	var waits []time.Duration
	for range 12 {
		n.bg = true
		n.backgroundDone(set4, now)
		if n.bg {
			t.Fatal("background flag left set")
		}
		waits = append(waits, n.nextBootstrap[fam4].Sub(now))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(waits, want) {
		t.Errorf("waits between bootstraps %v, want %v", waits, want)
	}
	// Once the table holds k good nodes, the back-off starts over.
	fill(n, 3*bucketSize)
	n.backgroundDone(set4, now)
	if n.backoff[fam4] != time.Second {
		t.Errorf("back-off %v with a healthy table", n.backoff[fam4])
	}
}

func TestResolveRouters(t *testing.T) {
	c := newMemConn(false)
	n, err := newNode(Config{Conn: c, Bootstrap: []string{
		"127.0.0.5:6881", "[::ffff:127.0.0.6]:6882", "127.0.0.7:0", "[::1]:6883", "no port", "host:notaport", "host:0",
	}})
	if err != nil {
		t.Fatal(err)
	}
	// None of these needs a resolver: only IP literals are used.
	got := n.resolveRouters(context.Background(), setBoth)
	if want := []netip.AddrPort{ap("127.0.0.5:6881"), ap("127.0.0.6:6882")}; !slices.Equal(got, want) {
		t.Errorf("routers %v, want %v", got, want)
	}
}
