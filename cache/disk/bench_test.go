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
	b.Run("block16KiB", func(b *testing.B) {
		p := make([]byte, 16<<10)
		b.SetBytes(int64(len(p)))
		for i := 0; b.Loop(); i++ {
			if ok, err := tr.ReadAt(i%16, (i%64)*len(p), p); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("firstRead1MiB", func(b *testing.B) { // the re-hash of a piece found on disk
		p := make([]byte, 16<<10)
		b.SetBytes(pl)
		for i := 0; b.Loop(); i++ {
			c.mu.Lock()
			clearBit(tr.st.verified, i%16)
			c.mu.Unlock()
			if ok, err := tr.ReadAt(i%16, 0, p); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
