package dht_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/btfs/btfs/swarm/dht"
)

// Two nodes on loopback: B bootstraps from A and announces a torrent it
// serves on port 6881; A's lookup then finds B's peer.
func ExampleNode_Announce() {
	start := func(ip string, bootstrap ...string) *dht.Node {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			panic(err)
		}
		n, err := dht.New(dht.Config{Conn: conn, Bootstrap: bootstrap})
		if err != nil {
			panic(err)
		}
		return n
	}
	a := start("127.0.0.1")
	defer a.Close()
	b := start("127.0.0.7", a.Addr().String())
	defer b.Close()
	for a.Stats().Nodes == 0 || b.Stats().Nodes == 0 { // each knows the other
		time.Sleep(10 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	infoHash := [20]byte{0xc0, 0xff, 0xee}
	accepted, err := b.Announce(ctx, infoHash, 6881, nil)
	fmt.Println("accepted by", accepted, "node(s), err:", err)
	_, err = a.Announce(ctx, infoHash, 0, func(peers []netip.AddrPort) {
		fmt.Println("found", peers)
	})
	fmt.Println("err:", err)
	// Output:
	// accepted by 1 node(s), err: <nil>
	// found [127.0.0.7:6881]
	// err: <nil>
}
