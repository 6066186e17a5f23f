package metainfo_test

import (
	"fmt"
	"log"

	"github.com/btfs/btfs/swarm/metainfo"
)

func ExampleParseMagnet() {
	link := "magnet:?xt=urn:btih:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ&dn=Big+Buck+Bunny" +
		"&tr=udp%3A%2F%2Ftracker.example%3A6969&x.pe=192.0.2.7:6881&x.pe=[2001:db8::7]:6881&x.pe=seed.example:6881"
	m, err := metainfo.ParseMagnet(link)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%x %q\n", m.InfoHash, m.Name)
	fmt.Println(m.Trackers, m.Peers, m.PeerHosts)
	fmt.Println(m)

	_, err = metainfo.ParseMagnet("magnet:?xt=urn:btmh:1220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	fmt.Println(err)
	// Output:
	// da39a3ee5e6b4b0d3255bfef95601890afd80709 "Big Buck Bunny"
	// [udp://tracker.example:6969] [192.0.2.7:6881 [2001:db8::7]:6881] [seed.example:6881]
	// magnet:?xt=urn:btih:da39a3ee5e6b4b0d3255bfef95601890afd80709&dn=Big+Buck+Bunny&tr=udp%3A%2F%2Ftracker.example%3A6969&x.pe=192.0.2.7%3A6881&x.pe=%5B2001%3Adb8%3A%3A7%5D%3A6881&x.pe=seed.example%3A6881
	// metainfo: magnet: v2-only magnet links (urn:btmh) are not supported yet
}
