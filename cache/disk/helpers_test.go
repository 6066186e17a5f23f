package disk

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTorrent is a torrent's content and its Meta.
type fakeTorrent struct {
	ih     [20]byte
	meta   Meta
	pieces [][]byte
}

func newFake(seed uint64, pieceLen, length int64) fakeTorrent {
	r := rand.New(rand.NewPCG(seed, 7))
	var f fakeTorrent
	for i := range f.ih {
		f.ih[i] = byte(r.Uint32())
	}
	f.meta = Meta{Name: "t" + hex.EncodeToString(f.ih[:2]), PieceLength: pieceLen, Length: length}
	for off := int64(0); off < length; off += pieceLen {
		p := make([]byte, min(pieceLen, length-off))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		f.pieces = append(f.pieces, p)
		f.meta.Hashes = append(f.meta.Hashes, sha1.Sum(p))
	}
	return f
}

// openCache opens a cache in dir and closes it when the test ends.
func openCache(t testing.TB, opts Options) *Cache {
	t.Helper()
	if opts.SyncEvery == 0 {
		opts.SyncEvery = time.Hour // tests commit explicitly
	}
	c, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openTorrent(t testing.TB, c *Cache, f fakeTorrent) *Torrent {
	t.Helper()
	tr, err := c.Torrent(f.ih, f.meta)
	if err != nil {
		t.Fatalf("Torrent: %v", err)
	}
	return tr
}

func mustPut(t testing.TB, tr *Torrent, f fakeTorrent, pieces ...int) {
	t.Helper()
	for _, i := range pieces {
		if err := tr.Put(i, f.pieces[i]); err != nil {
			t.Fatalf("Put(%d): %v", i, err)
		}
	}
}

// readPiece reads a whole piece; ok false if not held.
func readPiece(t testing.TB, tr *Torrent, f fakeTorrent, i int) bool {
	t.Helper()
	p := make([]byte, len(f.pieces[i]))
	ok, err := tr.ReadAt(i, 0, p)
	if err != nil {
		t.Fatalf("ReadAt(%d): %v", i, err)
	}
	if ok && !bytes.Equal(p, f.pieces[i]) {
		t.Fatalf("ReadAt(%d): wrong bytes", i)
	}
	return ok
}

func torrentDir(c *Cache, ih [20]byte) string {
	return filepath.Join(c.dir, hex.EncodeToString(ih[:]))
}

// copyTree copies the regular files of src into dst (a "crash image").
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// logBuf captures slog output safely across goroutines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// encodeBitmapV1 writes a `pieces` file in format 1 (held bits only), as
// btfs did before per-piece CRCs.
func encodeBitmapV1(held []byte, n int) []byte {
	b := append([]byte(bitmapMagicV1), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	b = append(b, held...)
	c := pieceCRC(b)
	return append(b, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
}
