package bitfield

import (
	"bytes"
	"math/bits"
	"testing"
)

// maxFuzzBits bounds the piece count a fuzz input may ask for.
const maxFuzzBits = 100000

func FuzzFromBytes(f *testing.F) {
	f.Add([]byte{}, uint32(0))
	f.Add([]byte{0xf0, 0x80}, uint32(9))
	f.Add([]byte{0xff}, uint32(8))
	f.Add([]byte{0xff, 0x40}, uint32(9))
	f.Add([]byte{0xff, 0xff, 0xfe}, uint32(23))
	f.Add([]byte{0x01}, uint32(3))
	f.Fuzz(func(t *testing.T, b []byte, n uint32) {
		// The raw n rarely fits len(b), so also try the counts that do:
		// len(b)*8 less 0..7 spare bits.
		checkFromBytes(t, b, int(n%(maxFuzzBits+1)))
		if len(b) > 0 && len(b)*8 <= maxFuzzBits {
			checkFromBytes(t, b, len(b)*8-int(n%8))
		}
	})
}

func checkFromBytes(t *testing.T, b []byte, n int) {
	t.Helper()
	in := append([]byte(nil), b...)
	f, err := FromBytes(in, n)
	if !bytes.Equal(in, b) {
		t.Fatalf("FromBytes(%x, %d) modified its input", b, n)
	}
	spare := n%8 != 0 && len(b) > 0 && b[len(b)-1]&(0xff>>(n%8)) != 0
	if wantErr := len(b) != (n+7)/8 || spare; (err != nil) != wantErr {
		t.Fatalf("FromBytes(%x, %d): err = %v, want error %v", b, n, err, wantErr)
	}
	if err != nil {
		return
	}
	if f.Len() != n {
		t.Fatalf("Len = %d, want %d", f.Len(), n)
	}
	pop := 0
	for _, x := range b {
		pop += bits.OnesCount8(x)
	}
	if f.Count() != pop {
		t.Fatalf("Count = %d, want popcount %d", f.Count(), pop)
	}
	if f.Full() != (pop == n) {
		t.Fatalf("Full = %v with count %d of %d", f.Full(), pop, n)
	}
	if !bytes.Equal(f.Bytes(), b) {
		t.Fatalf("Bytes = %x, want %x", f.Bytes(), b)
	}
	for i := -1; i <= n; i++ {
		want := i >= 0 && i < n && b[i/8]&(0x80>>(i%8)) != 0
		if f.Has(i) != want {
			t.Fatalf("Has(%d) = %v, want %v", i, !want, want)
		}
	}

	// The bitfield owns its bytes: changing the input or a clone leaves it be.
	if len(in) > 0 {
		in[0] ^= 0xff
		if !bytes.Equal(f.Bytes(), b) {
			t.Fatal("bitfield shares the input slice")
		}
	}
	g := f.Clone()
	g.SetAll()
	if f.Count() != pop || !g.Full() || g.Count() != n {
		t.Fatalf("after clone SetAll: count %d, clone full=%v count %d", f.Count(), g.Full(), g.Count())
	}
}
