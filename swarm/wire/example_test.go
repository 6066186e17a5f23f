package wire_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/btfs/btfs/swarm/wire"
)

func ExampleReader() {
	// What a peer might send: a bitfield, an unchoke and a block.
	var stream []byte
	bf := wire.Message{ID: wire.Bitfield, Payload: []byte{0xe0}}
	stream, _ = bf.AppendBinary(stream)
	unchoke := wire.Message{ID: wire.Unchoke}
	stream, _ = unchoke.AppendBinary(stream)
	stream = wire.AppendPiece(stream, 2, 16384, []byte("data"))

	// A connection would wrap its net.Conn in a bufio.Reader.
	r := wire.NewReader(bytes.NewReader(stream), wire.Limits{MaxBitfield: 1})
	for {
		m, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		switch m.ID {
		case wire.Piece:
			// m.Payload is only valid until the next Read: copy it out.
			fmt.Printf("%v %d@%d %q\n", m.ID, m.Index, m.Begin, m.Payload)
		case wire.Bitfield:
			fmt.Printf("%v %08b\n", m.ID, m.Payload)
		default:
			fmt.Println(m.ID)
		}
	}
	// Output:
	// bitfield [11100000]
	// unchoke
	// piece 2@16384 "data"
}
