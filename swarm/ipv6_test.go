package swarm

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/btfs/btfs/cache"
	"github.com/btfs/btfs/swarm/tracker/trackertest"
)

// v6Client is a test client listening on [::1].
func v6Client(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(Config{ListenAddr: "[::1]:0", Logger: testLogger(t), RequestTimeout: 2 * time.Second, MaxAnnounceInterval: time.Second})
	if err != nil {
		t.Fatalf("listen on [::1]: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestIPv6Swarm runs a whole swarm on ::1: a tracker reached over IPv6
// hands out its peers as peers6 (compact 18-byte entries), the leecher
// dials them over IPv6 and reads everything byte-identical.
func TestIPv6Swarm(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("this machine has no IPv6 loopback (::1), which the IPv6 tests need: %v", err)
	}
	trk := trackertest.New(time.Second)
	srv := httptest.NewUnstartedServer(trk)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	fx := newFixture(t, 64*1024, []string{srv.URL + "/announce"}, 900_000)
	for range 2 {
		c := v6Client(t)
		if _, err := c.AddTorrent(fx.mi, fileStorage(t, fx), TorrentOptions{Seed: true}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, func() bool { return len(trk.Peers(fx.mi.InfoHash)) >= 2 })
	for _, p := range trk.Peers(fx.mi.InfoHash) {
		if !p.Addr().Is6() || p.Addr().Is4In6() {
			t.Fatalf("tracker holds %v, want IPv6 peers", p)
		}
	}
	c := v6Client(t)
	tor, err := c.AddTorrent(fx.mi, cache.New(1<<30).Pieces(fx.mi.InfoHash, nil, fx.mi.Info.Layout().PieceSize), TorrentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := readAll(ctx, t, tor, fx, 1<<20); !bytes.Equal(got, fx.data) {
		t.Fatal("data over IPv6 differs")
	}
	if tor.Stats().Peers == 0 {
		t.Fatal("no IPv6 peer connected")
	}
}
