// Package bitfield is a compact, fixed-length bit set in BitTorrent's wire
// order: bit 0 is the high bit of byte 0.
package bitfield

import (
	"fmt"
	"math/bits"
)

// Bitfield is a set of piece indices in [0, Len()). The zero value is an
// empty bitfield of length zero.
type Bitfield struct {
	b     []byte
	n     int
	count int
}

// New returns an empty bitfield holding n bits.
func New(n int) Bitfield {
	return Bitfield{b: make([]byte, (n+7)/8), n: n}
}

// FromBytes returns a bitfield of n bits read from wire bytes. It fails when
// len(b) is not exactly ceil(n/8) or when a spare bit past n is set, as BEP 3
// requires of a bitfield message.
func FromBytes(b []byte, n int) (Bitfield, error) {
	if len(b) != (n+7)/8 {
		return Bitfield{}, fmt.Errorf("bitfield: %d bytes for %d bits, want %d", len(b), n, (n+7)/8)
	}
	if n%8 != 0 && b[len(b)-1]&(0xff>>(n%8)) != 0 {
		return Bitfield{}, fmt.Errorf("bitfield: spare bits set past bit %d", n)
	}
	f := Bitfield{b: append([]byte(nil), b...), n: n}
	for _, x := range f.b {
		f.count += bits.OnesCount8(x)
	}
	return f, nil
}

// Len returns the number of bits.
func (f *Bitfield) Len() int { return f.n }

// Count returns the number of set bits.
func (f *Bitfield) Count() int { return f.count }

// Full reports whether every bit is set.
func (f *Bitfield) Full() bool { return f.count == f.n }

// Has reports whether bit i is set; out-of-range i is never set.
func (f *Bitfield) Has(i int) bool {
	if i < 0 || i >= f.n {
		return false
	}
	return f.b[i>>3]&(0x80>>(i&7)) != 0
}

// Set sets bit i; out-of-range i is ignored.
func (f *Bitfield) Set(i int) {
	if i < 0 || i >= f.n || f.Has(i) {
		return
	}
	f.b[i>>3] |= 0x80 >> (i & 7)
	f.count++
}

// Clear clears bit i; out-of-range i is ignored.
func (f *Bitfield) Clear(i int) {
	if !f.Has(i) {
		return
	}
	f.b[i>>3] &^= 0x80 >> (i & 7)
	f.count--
}

// SetAll sets every bit.
func (f *Bitfield) SetAll() {
	for i := range f.b {
		f.b[i] = 0xff
	}
	if r := f.n % 8; r != 0 {
		f.b[len(f.b)-1] = byte(0xff << (8 - r))
	}
	f.count = f.n
}

// Bytes returns the wire encoding. The slice is shared; do not modify it.
func (f *Bitfield) Bytes() []byte { return f.b }

// Clone returns an independent copy.
func (f *Bitfield) Clone() Bitfield {
	return Bitfield{b: append([]byte(nil), f.b...), n: f.n, count: f.count}
}

// CopyFrom makes f a copy of src, reusing f's storage.
func (f *Bitfield) CopyFrom(src *Bitfield) {
	f.b = append(f.b[:0], src.b...)
	f.n, f.count = src.n, src.count
}
