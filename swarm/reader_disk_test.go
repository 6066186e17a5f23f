package swarm

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btfs/btfs/cache"
	"github.com/btfs/btfs/cache/disk"
)

// diskLeech adds fx to a new client over a disk cache in dir that already
// holds every piece (written by a previous "mount"), with corrupt pieces
// damaged on disk in between, as a remount finds them.
func diskLeech(t *testing.T, fx *fixture, opts TorrentOptions, corrupt ...int) (*Torrent, *cache.Pieces) {
	t.Helper()
	dir := t.TempDir()
	info := &fx.mi.Info
	meta := disk.Meta{Name: info.Name, PieceLength: info.PieceLength, Length: info.Length, Hashes: info.Pieces}
	l := info.Layout()
	open := func() (*disk.Cache, *disk.Torrent) {
		dc, err := disk.Open(context.Background(), disk.Options{Dir: dir, MaxBytes: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		dt, err := dc.Torrent(fx.mi.InfoHash, meta)
		if err != nil {
			t.Fatal(err)
		}
		return dc, dt
	}
	dc, dt := open()
	for i := range info.NumPieces() {
		off := l.PieceOffset(i)
		if err := dt.Put(i, fx.data[off:off+int64(l.PieceSize(i))]); err != nil {
			t.Fatal(err)
		}
	}
	dt.Close()
	if err := dc.Close(); err != nil {
		t.Fatal(err)
	}
	if len(corrupt) > 0 {
		fd, err := os.OpenFile(filepath.Join(dir, hex.EncodeToString(fx.mi.InfoHash[:]), "data"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range corrupt {
			off := l.PieceOffset(i) + 5
			if _, err := fd.WriteAt([]byte{^fx.data[off]}, off); err != nil {
				t.Fatal(err)
			}
		}
		fd.Close()
	}
	dc, dt = open()
	pieces := cache.New(1<<30).Pieces(fx.mi.InfoHash, dt, l.PieceSize)
	tor, err := newTestClient(t).AddTorrent(fx.mi, pieces, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the client (registered above) closes
	// before the disk cache.
	t.Cleanup(func() { dt.Close(); dc.Close() })
	return tor, pieces
}

// TestReaderFromDiskTier: a remounted torrent is read from the disk tier
// with range preads into the caller's buffer: the right bytes, nothing
// downloaded, no piece copied into memory.
func TestReaderFromDiskTier(t *testing.T) {
	fx := newFixture(t, 64<<10, nil, 3<<20+1234)
	tor, pieces := diskLeech(t, fx, TorrentOptions{NoTrackers: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, chunk := range []int{128 << 10, 100_000} { // piece-aligned, and straddling pieces
		if got := readAll(ctx, t, tor, fx, chunk); !bytes.Equal(got, fx.data) {
			t.Fatalf("chunk %d: read %d bytes that differ from the source", chunk, len(got))
		}
	}
	if s := tor.Stats(); s.Downloaded != 0 {
		t.Fatalf("downloaded %d bytes of a fully cached torrent", s.Downloaded)
	}
	if b := pieces.MemBytes(); b != 0 {
		t.Fatalf("reading from disk put %d bytes in memory", b)
	}
}

// TestReaderRefetchesCorruptDiskPiece: pieces damaged on disk fail their
// check on first read, are dropped and fetched again from a peer; the
// reader only ever sees the right bytes.
func TestReaderRefetchesCorruptDiskPiece(t *testing.T) {
	fx := newFixture(t, 64<<10, nil, 2<<20)
	p := seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true})
	tor, pieces := diskLeech(t, fx, TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{p}}, 3, 17)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got := readAll(ctx, t, tor, fx, 128<<10); !bytes.Equal(got, fx.data) {
		t.Fatal("read bytes differ from the source")
	}
	s := tor.Stats()
	if want := int64(2 * 64 << 10); s.Downloaded != want {
		t.Fatalf("downloaded %d bytes, want the two corrupt pieces (%d)", s.Downloaded, want)
	}
	// Readers get a verified piece before its store finishes (off the
	// loop), so the store may land a moment after the read.
	for deadline := time.Now().Add(5 * time.Second); !pieces.Has(3) || !pieces.Has(17); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("re-fetched pieces not stored 5 s after the read")
		}
	}
}
