package announce_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/btfs/btfs/swarm/announce"
	"github.com/btfs/btfs/swarm/tracker"
	"github.com/btfs/btfs/swarm/tracker/trackertest"
)

func ExampleTiers_Run() {
	ts := httptest.NewServer(trackertest.New(time.Minute))
	defer ts.Close()
	url := ts.URL + "/announce"
	client := &tracker.Client{}

	// Another peer is already in the swarm.
	infoHash := [20]byte{1, 2, 3}
	_, err := client.Announce(context.Background(), tracker.Request{
		URL: url, InfoHash: infoHash, PeerID: [20]byte{'o'}, Port: 6881, Left: 1, NumWant: -1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx, cancel := context.WithCancel(context.Background())
	found := make(chan netip.AddrPort, 1)
	tiers := announce.New(announce.Config{
		Tiers:    [][]string{{url}},
		InfoHash: infoHash, PeerID: [20]byte{'m', 'e'}, Port: 6882,
		Client: client,
		Stats:  func() announce.Stats { return announce.Stats{Left: 1 << 20} },
		Peers: func(peers []netip.AddrPort) {
			select {
			case found <- peers[0]:
			default:
			}
		},
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tiers.Run(ctx) // until cancel, then announces stopped
	}()
	fmt.Println("peer:", <-found)
	cancel()
	<-done
	st := tiers.Status()[0]
	fmt.Println("peers:", st.Peers, "interval:", st.Interval)
	// Output:
	// peer: 127.0.0.1:6881
	// peers: 1 interval: 1m0s
}
