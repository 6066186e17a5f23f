package tracker_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/btfs/btfs/swarm/tracker"
	"github.com/btfs/btfs/swarm/tracker/trackertest"
)

func ExampleClient_Announce() {
	ts := httptest.NewServer(trackertest.New(time.Minute))
	defer ts.Close()

	var c tracker.Client
	req := tracker.Request{
		URL:      ts.URL + "/announce",
		InfoHash: [20]byte{0x01, 0x02},
		PeerID:   [20]byte{'a'},
		Port:     6881,
		Left:     1 << 20,
		Event:    tracker.EventStarted,
		NumWant:  50,
	}
	if _, err := c.Announce(context.Background(), req); err != nil {
		fmt.Println(err)
		return
	}
	req.PeerID, req.Port = [20]byte{'b'}, 6882
	resp, err := c.Announce(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("interval:", resp.Interval)
	fmt.Println("peers:", resp.Peers)
	// Output:
	// interval: 1m0s
	// peers: [127.0.0.1:6881]
}
