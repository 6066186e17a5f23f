package metadata_test

import (
	"crypto/sha1"
	"fmt"
	"time"

	"github.com/btfs/btfs/swarm/metadata"
)

func ExampleFetcher() {
	info := []byte("d4:name5:movie12:piece lengthi16384ee")
	f := metadata.NewFetcher[string](sha1.Sum(info))

	// A peer's extension handshake advertised ut_metadata and metadata_size.
	if err := f.AddPeer("peer A", len(info)); err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	for {
		piece, ok := f.Next("peer A", now)
		if !ok {
			break
		}
		// The request goes out; peer A answers from its copy.
		req, _ := metadata.Msg{Type: metadata.Request, Piece: piece}.AppendBinary(nil)
		parsed, _ := metadata.ParseMsg(req)
		answer, _ := metadata.Serve(info, parsed).AppendBinary(nil)

		m, err := metadata.ParseMsg(answer)
		if err != nil {
			fmt.Println(err)
			return
		}
		res, err := f.Data("peer A", m)
		if err != nil {
			fmt.Println("drop peer A:", err)
			return
		}
		if res.Done {
			fmt.Printf("%s\n", res.Info)
		}
	}
	// Output: d4:name5:movie12:piece lengthi16384ee
}
