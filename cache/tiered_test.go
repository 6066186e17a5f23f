package cache

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/btfs/btfs/cache/disk"
)

// diskTorrent is n pieces of pl bytes held in a disk cache under dir.
type diskTorrent struct {
	ih    [20]byte
	meta  disk.Meta
	data  []byte
	pl, n int
	dir   string
}

func newDiskTorrent(t testing.TB, pl, n int) *diskTorrent {
	dt := &diskTorrent{ih: [20]byte{9}, pl: pl, n: n, dir: t.TempDir(), data: make([]byte, pl*n)}
	for i := range dt.data {
		dt.data[i] = byte(i*7 + i>>12)
	}
	hashes := make([][20]byte, n)
	for i := range n {
		hashes[i] = sha1.Sum(dt.piece(i))
	}
	dt.meta = disk.Meta{Name: "x", PieceLength: int64(pl), Length: int64(pl * n), Hashes: hashes}
	return dt
}

func (dt *diskTorrent) piece(i int) []byte { return dt.data[i*dt.pl : (i+1)*dt.pl] }

// open opens the disk cache and the torrent's store, closed when the test ends.
func (dt *diskTorrent) open(t testing.TB) (*disk.Cache, *disk.Torrent) {
	t.Helper()
	dc, err := disk.Open(context.Background(), disk.Options{Dir: dt.dir, MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	tr, err := dc.Torrent(dt.ih, dt.meta)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return dc, tr
}

// fill stores every piece on disk and closes the cache: the next open
// finds them all unchecked, as after a remount.
func (dt *diskTorrent) fill(t testing.TB) {
	t.Helper()
	dc, tr := dt.open(t)
	for i := range dt.n {
		if err := tr.Put(i, dt.piece(i)); err != nil {
			t.Fatal(err)
		}
	}
	tr.Close()
	if err := dc.Close(); err != nil {
		t.Fatal(err)
	}
}

func (dt *diskTorrent) corrupt(t testing.TB, piece int) {
	t.Helper()
	path := filepath.Join(dt.dir, hex.EncodeToString(dt.ih[:]), "data")
	fd, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if _, err := fd.WriteAt([]byte{^dt.piece(piece)[17]}, int64(piece*dt.pl+17)); err != nil {
		t.Fatal(err)
	}
}

func TestPiecesTiers(t *testing.T) {
	const pl, n = 4096, 8
	dt := newDiskTorrent(t, pl, n)
	_, tr := dt.open(t)
	mem := New(2 * pl) // memory holds two pieces; disk holds them all
	p := mem.Pieces(dt.ih, tr, func(int) int { return pl })
	for i := range n {
		if err := p.Put(i, dt.piece(i)); err != nil {
			t.Fatal(err)
		}
	}
	if p.mem.Contains(p.key(0)) {
		t.Fatal("piece 0 should have left memory")
	}
	if !p.Has(0) {
		t.Fatal("piece 0 should still be on disk")
	}
	buf := make([]byte, 100)
	if ok, err := p.ReadBlock(0, 50, buf); !ok || err != nil || !bytes.Equal(buf, dt.data[50:150]) {
		t.Fatalf("ReadBlock from disk: ok=%v err=%v", ok, err)
	}
	if p.mem.Contains(p.key(0)) {
		t.Fatal("a block read from disk brought its piece into memory")
	}
	if ok, err := p.ReadBlock(7, 0, buf); !ok || err != nil || !bytes.Equal(buf, dt.piece(7)[:100]) {
		t.Fatalf("ReadBlock from memory: ok=%v err=%v", ok, err)
	}
	for _, r := range [][2]int{{-1, 10}, {pl - 10, 11}} {
		if ok, err := p.ReadBlock(0, r[0], make([]byte, r[1])); ok || err != nil {
			t.Fatalf("ReadBlock(0, %d, %d bytes) outside the piece: ok=%v err=%v", r[0], r[1], ok, err)
		}
	}
	p.Warm(3)
	if p.mem.Contains(p.key(3)) {
		t.Fatal("Warm brought piece 3 into memory")
	}
	if d, ok, err := p.Piece(3); !ok || err != nil || !bytes.Equal(d, dt.piece(3)) {
		t.Fatalf("Piece(3): ok=%v err=%v", ok, err)
	}
	if p.mem.Contains(p.key(3)) {
		t.Fatal("Piece brought piece 3 into memory")
	}
	memOnly := mem.Pieces([20]byte{1}, nil, func(int) int { return pl })
	if memOnly.Has(0) {
		t.Fatal("another torrent sees this one's pieces")
	}
}

// TestPiecesRemountCorrupt reopens a filled disk cache with two pieces
// corrupted: a block read or a Warm of one drops it, the others are
// served, and nothing reaches memory.
func TestPiecesRemountCorrupt(t *testing.T) {
	const pl, n = 16 << 10, 8
	dt := newDiskTorrent(t, pl, n)
	dt.fill(t)
	dt.corrupt(t, 2)
	dt.corrupt(t, 5)
	_, tr := dt.open(t)
	mem := New(1 << 20)
	p := mem.Pieces(dt.ih, tr, func(int) int { return pl })
	buf := make([]byte, 1024)
	if ok, err := p.ReadBlock(2, 4096, buf); ok || err != nil {
		t.Fatalf("block of a corrupt piece: ok=%v err=%v", ok, err)
	}
	if p.Has(2) {
		t.Fatal("corrupt piece 2 still held")
	}
	p.Warm(5)
	if p.Has(5) {
		t.Fatal("Warm kept corrupt piece 5")
	}
	if d, ok, err := p.Piece(5); ok || err != nil || d != nil {
		t.Fatalf("Piece of a dropped piece: ok=%v err=%v", ok, err)
	}
	for i := range n {
		if i == 2 || i == 5 {
			continue
		}
		p.Warm(i)
		for b := 0; b < pl; b += len(buf) {
			if ok, err := p.ReadBlock(i, b, buf); !ok || err != nil || !bytes.Equal(buf, dt.piece(i)[b:b+len(buf)]) {
				t.Fatalf("piece %d block %d: ok=%v err=%v", i, b, ok, err)
			}
		}
	}
	if mem.Bytes() != 0 {
		t.Fatalf("reads from disk put %d bytes in memory", mem.Bytes())
	}
}

// BenchmarkReadBlockDisk serves 16 KiB blocks of 1 MiB pieces held only on
// disk (already checked since start), as a peer upload does, with a memory
// tier too small to hold them.
func BenchmarkReadBlockDisk(b *testing.B) {
	const pl, n = 1 << 20, 16
	dt := newDiskTorrent(b, pl, n)
	dt.fill(b)
	_, tr := dt.open(b)
	mem := New(2 * pl)
	p := mem.Pieces(dt.ih, tr, func(int) int { return pl })
	buf := make([]byte, 16<<10)
	for i := range n { // the first read of each piece checks it
		if ok, err := p.ReadBlock(i, 0, buf); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if ok, err := p.ReadBlock(i%n, (i/n%64)*len(buf), buf); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// TestWatchReportsPiecesThatLeave: with a disk tier, a piece evicted from
// memory that the disk holds has not left the cache (no report, nor when
// Put replaces a piece's unchecked bytes on disk); a piece the disk drops
// (found bad) is reported, and without a disk tier every eviction is.
func TestWatchReportsPiecesThatLeave(t *testing.T) {
	const pl, n = 4096, 8
	dt := newDiskTorrent(t, pl, n)
	dt.fill(t)
	dt.corrupt(t, 6)
	_, tr := dt.open(t)
	mem := New(2 * pl) // two pieces
	p := mem.Pieces(dt.ih, tr, func(int) int { return pl })
	var gone []int
	stop := p.Watch(func(i int) { gone = append(gone, i) })
	defer stop()
	for i := range 4 { // on disk too: evicting them from memory loses nothing
		if err := p.Put(i, dt.piece(i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(gone) != 0 {
		t.Fatalf("pieces held on disk reported gone: %v", gone)
	}
	mem.Put(p.key(7), dt.piece(7)) // on disk as well: removing it from memory loses nothing
	mem.Remove(p.key(7))
	if ok, err := p.ReadBlock(6, 0, make([]byte, 10)); ok || err != nil { // bad on disk: dropped
		t.Fatalf("corrupt piece read: ok=%v err=%v", ok, err)
	}
	if !slices.Equal(gone, []int{6}) {
		t.Fatalf("gone = %v, want [6] (the dropped piece only; 7 is still on disk)", gone)
	}
	memOnly := New(pl).Pieces([20]byte{2}, nil, func(int) int { return pl })
	gone = nil
	stop2 := memOnly.Watch(func(i int) { gone = append(gone, i) })
	defer stop2()
	for i := range 3 {
		if err := memOnly.Put(i, dt.piece(i)); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(gone, []int{0, 1}) {
		t.Fatalf("memory only: gone = %v, want [0 1]", gone)
	}
}
