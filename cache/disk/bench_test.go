package disk

import (
	"testing"
)

func BenchmarkPut(b *testing.B) {
	const pl = 1 << 20
	const n = 4096 // a 4 GiB sparse torrent; the budget keeps 256 MiB of it
	f := fakeTorrent{ih: [20]byte{1}, meta: Meta{Name: "bench", PieceLength: pl, Length: n * pl, Hashes: make([][20]byte, n)}}
	c := openCache(b, Options{Dir: b.TempDir(), MaxBytes: 256 << 20, SyncEvery: 200e6})
	tr := openTorrent(b, c, f)
	data := make([]byte, pl)
	for i := range data {
		data[i] = byte(i * 31)
	}
	b.SetBytes(pl)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := tr.Put(i%n, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadAtVerified(b *testing.B) {
	const pl = 1 << 20
	f := newFake(99, pl, 16*pl)
	c := openCache(b, Options{Dir: b.TempDir()})
	tr := openTorrent(b, c, f)
	for p := range 16 {
		mustPut(b, tr, f, p)
	}
	p := make([]byte, 16<<10)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if ok, err := tr.ReadAt(i%16, (i%64)*len(p), p); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkFirstReadVerify is the first read of a 16 KiB block of a 1 MiB
// piece found on disk: the whole piece is read and checked by its CRC-32C,
// or by SHA-1 (a format 1 store, or a CRC mismatch).
func BenchmarkFirstReadVerify(b *testing.B) {
	const pl = 1 << 20
	f := newFake(99, pl, 16*pl)
	c := openCache(b, Options{Dir: b.TempDir()})
	tr := openTorrent(b, c, f)
	for p := range 16 {
		mustPut(b, tr, f, p)
	}
	for _, bc := range []struct {
		name   string
		forget func(piece int)
	}{
		{"crc32c", func(piece int) { clearBit(tr.st.verified, piece) }},
		{"sha1", func(piece int) { clearBit(tr.st.verified, piece); clearBit(tr.st.known, piece) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := make([]byte, 16<<10)
			b.SetBytes(pl)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c.mu.Lock()
				bc.forget(i % 16)
				c.mu.Unlock()
				if ok, err := tr.ReadAt(i%16, 0, p); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
