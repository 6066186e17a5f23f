package wire

import (
	"testing"
)

func BenchmarkReadPiece(b *testing.B) {
	block := make([]byte, 16<<10)
	var in []byte
	for i := range 64 {
		in = AppendPiece(in, uint32(i), 0, block)
	}
	r := NewReader(&loopReader{data: in}, Limits{})
	if _, err := r.Read(); err != nil { // size the buffer outside the timed loop
		b.Fatal(err)
	}
	b.SetBytes(int64(len(block)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := r.Read()
		if err != nil || len(m.Payload) != len(block) {
			b.Fatalf("Read = %d bytes, %v", len(m.Payload), err)
		}
	}
}

func BenchmarkAppendPiece(b *testing.B) {
	block := make([]byte, 16<<10)
	buf := make([]byte, 0, 4+9+len(block))
	b.SetBytes(int64(len(block)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPiece(buf[:0], 1, 0, block)
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	in := AppendRequest(nil, Request, 1, 0, 16<<10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(in, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
