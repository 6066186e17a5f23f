package picker_test

import (
	"fmt"

	"github.com/btfs/btfs/swarm/bitfield"
	"github.com/btfs/btfs/swarm/picker"
)

func ExamplePicker_Pick() {
	p := picker.New(4, func(int) int { return 2 }, 1)
	for i := range 4 {
		p.SetPriority(i, picker.Normal, 0)
	}
	p.SetPriority(2, picker.Now, 0) // a read is blocked on piece 2

	has := bitfield.New(4)
	has.SetAll()
	p.PeerBitfield(&has)
	for _, i := range []int{0, 1, 2} { // another peer: piece 3 is now the rarest
		p.PeerHas(i)
	}

	inFlight := map[picker.Block]bool{}
	mine := func(b picker.Block) bool { return inFlight[b] }
	for _, b := range p.Pick(&has, mine, 3, nil) {
		inFlight[b] = true
		fmt.Println(b)
	}
	// Output:
	// {2 0}
	// {2 1}
	// {3 0}
}
