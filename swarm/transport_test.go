package swarm

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/btfs/btfs/cache"
)

// policyClient is a test client on 127.0.0.1 with an encryption policy.
func policyClient(t *testing.T, enc Encryption, noUTP bool) *Client {
	t.Helper()
	c, err := NewClient(Config{ListenAddr: "127.0.0.1:0", Logger: testLogger(t), RequestTimeout: 2 * time.Second, Encryption: enc, NoUTP: noUTP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connectedWays returns how each connected peer of tor was reached.
func connectedWays(tor *Torrent) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ws []string
	for _, p := range tor.Peers(ctx) {
		if p.Connected {
			ws = append(ws, p.Way)
		}
	}
	return ws
}

// TestEncryptionPolicies: every pair of policies either connects, the way
// the policies allow, and moves bytes right, or never connects; failed
// attempts are recorded for status.
func TestEncryptionPolicies(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 300_000)
	for _, tc := range []struct {
		seeder, leecher Encryption
		want            string // the leecher's way to the seeder; "" = no connection
	}{
		{EncPrefer, EncPrefer, "tcp+mse"},
		{EncRequire, EncPrefer, "tcp+mse"},
		{EncOff, EncPrefer, "tcp"}, // MSE refused: plaintext at once
		{EncPrefer, EncRequire, "tcp+mse"},
		{EncPrefer, EncOff, "tcp"},
		{EncRequire, EncOff, ""},
		{EncOff, EncRequire, ""},
	} {
		t.Run(tc.seeder.String()+"-seeder/"+tc.leecher.String()+"-leecher", func(t *testing.T) {
			sc := policyClient(t, tc.seeder, true)
			if _, err := sc.AddTorrent(fx.mi, fileStorage(t, fx), TorrentOptions{Seed: true, NoTrackers: true}); err != nil {
				t.Fatal(err)
			}
			addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), sc.Port())
			lc := policyClient(t, tc.leecher, true)
			tor, err := lc.AddTorrent(fx.mi, cache.New(1<<30).Pieces(fx.mi.InfoHash, nil, fx.mi.Info.Layout().PieceSize),
				TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{addr}})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				// The first round of attempts ends in failures, recorded.
				var ps []PeerStatus
				waitFor(t, 10*time.Second, func() bool {
					ps = tor.Peers(context.Background())
					return len(ps) == 1 && ps[0].Fails > 0
				})
				if ps[0].Connected || len(ps[0].Attempts) == 0 || ps[0].Attempts[0].Err == "" {
					t.Fatalf("peer status %+v, want failed attempts", ps[0])
				}
				t.Logf("attempts: %+v", ps[0].Attempts)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if got := readAll(ctx, t, tor, fx, 100_000); !bytes.Equal(got, fx.data) {
				t.Fatal("data differs")
			}
			if ws := connectedWays(tor); len(ws) != 1 || ws[0] != tc.want {
				t.Fatalf("connected by %v, want %s", ws, tc.want)
			}
		})
	}
}

// TestUTPWhenTCPIsRefused: a seeder whose TCP listener is gone is reached
// over uTP (after TCP is refused), and the data moves right.
func TestUTPWhenTCPIsRefused(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 2<<20)
	sc := policyClient(t, EncPrefer, false)
	if _, err := sc.AddTorrent(fx.mi, fileStorage(t, fx), TorrentOptions{Seed: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	sc.ln.Close() // TCP refused from now on; the UDP socket stays
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), sc.Port())
	lc := policyClient(t, EncPrefer, false)
	tor, err := lc.AddTorrent(fx.mi, cache.New(1<<30).Pieces(fx.mi.InfoHash, nil, fx.mi.Info.Layout().PieceSize),
		TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{addr}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := readAll(ctx, t, tor, fx, 256<<10); !bytes.Equal(got, fx.data) {
		t.Fatal("data over uTP differs")
	}
	if ws := connectedWays(tor); len(ws) != 1 || ws[0] != "utp+mse" {
		t.Fatalf("connected by %v, want utp+mse", ws)
	}
	ps := tor.Peers(context.Background())
	var tried []string
	for _, a := range ps[0].Attempts {
		tried = append(tried, a.Way)
	}
	if got := strings.Join(tried, ","); got != "tcp+mse,utp+mse" {
		t.Fatalf("attempts %s, want tcp+mse (refused), then utp+mse", got)
	}
}
