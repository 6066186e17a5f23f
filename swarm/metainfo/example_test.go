package metainfo_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/btfs/btfs/swarm/metainfo"
)

func ExampleParse() {
	pieces := strings.Repeat("\x00", 2*20) // two fake SHA-1 hashes
	data := "d8:announce30:http://127.0.0.1:6969/announce4:infod" +
		"5:filesld6:lengthi20000e4:pathl5:cd 017:01.flaceed6:lengthi300e4:pathl9:cover.jpgeee" +
		"4:name5:album12:piece lengthi16384e6:pieces40:" + pieces + "ee"
	m, err := metainfo.Parse([]byte(data))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Info.Name, m.Info.Length, "bytes in", m.Info.NumPieces(), "pieces")
	for _, f := range m.Info.Files {
		fmt.Println(f.Path, f.Offset, f.Length)
	}
	l := m.Info.Layout()
	fmt.Println("last piece:", l.PieceSize(1), "bytes,", l.NumBlocks(1), "block")
	fmt.Println(m.Trackers())
	// Output:
	// album 20300 bytes in 2 pieces
	// [cd 01 01.flac] 0 20000
	// [cover.jpg] 20000 300
	// last piece: 3916 bytes, 1 block
	// [[http://127.0.0.1:6969/announce]]
}
