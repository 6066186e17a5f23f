package announce

import (
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/tracker"
	"github.com/btfs/btfs/swarm/tracker/trackertest"
)

// TestEndToEndHTTP runs two peers' Tiers against trackertest over real
// HTTP on 127.0.0.1, each with a dead tracker in the same tier: each
// learns the other, and both leave the swarm when stopped.
func TestEndToEndHTTP(t *testing.T) {
	srv := trackertest.New(time.Second)
	hs := httptest.NewServer(srv)
	defer hs.Close()

	// A port nobody listens on: connection refused at once.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/announce"
	ln.Close()

	ih := [20]byte{'e', '2', 'e'}
	client := &tracker.Client{HTTP: hs.Client()}
	type peer struct {
		ts   *Tiers
		sink *peerSink
		stop func() time.Duration
		addr netip.AddrPort
	}
	var peers []*peer
	for i, port := range []uint16{7001, 7002} {
		p := &peer{sink: newSink(), addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)}
		p.ts = New(Config{
			Tiers:    [][]string{{dead, hs.URL + "/announce"}},
			InfoHash: ih, PeerID: [20]byte{byte('a' + i)}, Port: port,
			Client: client, Peers: p.sink.add,
			Stats:       func() Stats { return Stats{Left: 10} },
			MinInterval: 100 * time.Millisecond,
			Rand:        rand.New(rand.NewPCG(uint64(i), 7)),
		})
		p.stop = start(t, p.ts)
		peers = append(peers, p)
	}
	peers[0].sink.wait(t, peers[1].addr.String(), 5*time.Second)
	peers[1].sink.wait(t, peers[0].addr.String(), 5*time.Second)
	if got := srv.Peers(ih); !slices.Equal(got, []netip.AddrPort{peers[0].addr, peers[1].addr}) {
		t.Fatalf("tracker swarm %v", got)
	}
	for _, p := range peers {
		st := p.ts.Status()
		if st[0].URL != hs.URL+"/announce" || !st[0].Active || st[0].Interval != time.Second ||
			st[1].URL != dead || st[1].Active || !st[1].LastAnnounce.IsZero() {
			t.Fatalf("status %+v", st)
		}
		p.stop()
	}
	if got := srv.Peers(ih); len(got) != 0 {
		t.Fatalf("after stop the tracker still has %v", got)
	}
}
