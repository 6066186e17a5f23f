package cache

import (
	"bytes"
	"context"
	"crypto/sha1"
	"testing"

	"github.com/btfs/btfs/cache/disk"
)

func TestPiecesTiers(t *testing.T) {
	const pl, n = 4096, 8
	data := make([]byte, pl*n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	hashes := make([][20]byte, n)
	for i := range n {
		hashes[i] = sha1.Sum(data[i*pl : (i+1)*pl])
	}
	dc, err := disk.Open(context.Background(), disk.Options{Dir: t.TempDir(), MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	ih := [20]byte{9}
	dt, err := dc.Torrent(ih, disk.Meta{Name: "x", PieceLength: pl, Length: pl * n, Hashes: hashes})
	if err != nil {
		t.Fatal(err)
	}
	defer dt.Close()
	mem := New(2 * pl) // memory holds two pieces; disk holds them all
	p := mem.Pieces(ih, dt, func(int) int { return pl })
	for i := range n {
		if err := p.Put(i, data[i*pl:(i+1)*pl]); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := p.MemPiece(0); ok {
		t.Fatal("piece 0 should have left memory")
	}
	if !p.Has(0) {
		t.Fatal("piece 0 should still be on disk")
	}
	buf := make([]byte, 100)
	if ok, err := p.ReadBlock(0, 50, buf); !ok || err != nil || !bytes.Equal(buf, data[50:150]) {
		t.Fatalf("ReadBlock from disk: ok=%v err=%v", ok, err)
	}
	if _, ok := p.MemPiece(0); !ok {
		t.Fatal("a disk read did not promote the piece into memory")
	}
	p.Warm(3)
	if d, ok := p.MemPiece(3); !ok || !bytes.Equal(d, data[3*pl:4*pl]) {
		t.Fatal("Warm did not load piece 3 into memory")
	}
	memOnly := mem.Pieces([20]byte{1}, nil, func(int) int { return pl })
	if memOnly.Has(0) {
		t.Fatal("another torrent sees this one's pieces")
	}
}
