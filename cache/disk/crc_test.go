package disk

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// readSums decodes a torrent's `pieces` file.
func readSums(t *testing.T, c *Cache, f fakeTorrent) pieceSums {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(torrentDir(c, f.ih), piecesName))
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeBitmap(b, len(f.pieces))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// editSums rewrites a closed torrent's `pieces` file (format 2, with a
// valid file checksum) after edit changes it.
func editSums(t *testing.T, c *Cache, f fakeTorrent, edit func(*pieceSums)) {
	t.Helper()
	s := readSums(t, c, f)
	edit(&s)
	if err := os.WriteFile(filepath.Join(torrentDir(c, f.ih), piecesName), encodeBitmap(s, len(f.pieces)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// countChecks counts first-read checks through the test hook.
func countChecks(c *Cache) *atomic.Int64 {
	var n atomic.Int64
	c.hook = func(_ [20]byte, step string) error {
		if step == stepCheck {
			n.Add(1)
		}
		return nil
	}
	return &n
}

func TestPutRecordsCRC(t *testing.T) {
	dir := t.TempDir()
	f := newFake(30, 4096, 5*4096+17)
	c := openCache(t, Options{Dir: dir})
	tr := openTorrent(t, c, f)
	mustPut(t, tr, f, 1, 5)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	s := readSums(t, c, f)
	for p := range f.pieces {
		held := p == 1 || p == 5
		if hasBit(s.held, p) != held || hasBit(s.known, p) != held {
			t.Fatalf("piece %d: held %v known %v, want %v", p, hasBit(s.held, p), hasBit(s.known, p), held)
		}
		if held && s.crcs[p] != pieceCRC(f.pieces[p]) {
			t.Fatalf("piece %d: CRC %08x, want %08x", p, s.crcs[p], pieceCRC(f.pieces[p]))
		}
	}
}

// TestStaleCRCRepaired: good data under a wrong CRC passes its SHA-1, is
// served, and its CRC is corrected on disk at the next commit.
func TestStaleCRCRepaired(t *testing.T) {
	dir := t.TempDir()
	f := newFake(31, 8192, 4*8192)
	c := openCache(t, Options{Dir: dir})
	mustPut(t, openTorrent(t, c, f), f, 0, 1, 2, 3)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	editSums(t, c, f, func(s *pieceSums) { s.crcs[2] ^= 0x5a5a })

	logs := &logBuf{}
	c = openCache(t, Options{Dir: dir, Logger: logs.logger()})
	tr := openTorrent(t, c, f)
	for p := range 4 {
		if !readPiece(t, tr, f, p) {
			t.Fatalf("piece %d not served", p)
		}
	}
	if n := strings.Count(logs.String(), "repairing the CRC"); n != 1 {
		t.Fatalf("%d repair warnings, want 1:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "failed its hash check") {
		t.Fatalf("good data dropped:\n%s", logs)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if s := readSums(t, c, f); s.crcs[2] != pieceCRC(f.pieces[2]) || !hasBit(s.known, 2) {
		t.Fatalf("CRC on disk %08x, want %08x", s.crcs[2], pieceCRC(f.pieces[2]))
	}

	// Reopened, the repaired CRC vouches for the piece: no warning now.
	logs = &logBuf{}
	c = openCache(t, Options{Dir: dir, Logger: logs.logger()})
	tr = openTorrent(t, c, f)
	if !readPiece(t, tr, f, 2) || strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("repaired piece:\n%s", logs)
	}
}

// TestFormat1Migrated opens a store written before per-piece CRCs: its
// pieces are SHA-1-checked on first read (a corrupt one is dropped), get a
// CRC, and the bitmap is rewritten in format 2.
func TestFormat1Migrated(t *testing.T) {
	dir := t.TempDir()
	f := newFake(32, 8192, 6*8192)
	c := openCache(t, Options{Dir: dir})
	mustPut(t, openTorrent(t, c, f), f, 0, 1, 2, 3, 4)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	tdir := torrentDir(c, f.ih)
	held := readSums(t, c, f).held
	if err := os.WriteFile(filepath.Join(tdir, piecesName), encodeBitmapV1(held, 6), 0o600); err != nil {
		t.Fatal(err)
	}
	corrupt(t, filepath.Join(tdir, dataName), 3*8192+9)

	logs := &logBuf{}
	c = openCache(t, Options{Dir: dir, Logger: logs.logger()})
	tr := openTorrent(t, c, f)
	if tr.Pieces() != 5 {
		t.Fatalf("format 1 store: %d pieces, want 5", tr.Pieces())
	}
	for _, p := range []int{0, 2} {
		if !readPiece(t, tr, f, p) {
			t.Fatalf("piece %d lost", p)
		}
	}
	if readPiece(t, tr, f, 3) || tr.Has(3) {
		t.Fatal("corrupt piece 3 of a format 1 store served")
	}
	if !strings.Contains(logs.String(), "crc_known=false") {
		t.Fatalf("no drop logged:\n%s", logs)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(tdir, piecesName))
	if err != nil || !bytes.HasPrefix(b, []byte(bitmapMagic)) {
		t.Fatalf("bitmap not rewritten in format 2: %q %v", b[:min(len(b), 8)], err)
	}
	s := readSums(t, c, f)
	for p, want := range []struct{ held, known bool }{{true, true}, {true, false}, {true, true}, {false, false}, {true, false}, {false, false}} {
		if hasBit(s.held, p) != want.held || hasBit(s.known, p) != want.known {
			t.Fatalf("piece %d: held %v known %v, want %+v", p, hasBit(s.held, p), hasBit(s.known, p), want)
		}
		if want.known && s.crcs[p] != pieceCRC(f.pieces[p]) {
			t.Fatalf("piece %d: wrong CRC", p)
		}
	}
	// Pieces not read yet still get their SHA-1 check later.
	c = openCache(t, Options{Dir: dir})
	tr = openTorrent(t, c, f)
	if !readPiece(t, tr, f, 1) || !readPiece(t, tr, f, 4) {
		t.Fatal("unread format 1 pieces lost")
	}
}

func corrupt(t *testing.T, path string, off int64) {
	t.Helper()
	fd, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	b := make([]byte, 1)
	if _, err := fd.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.WriteAt([]byte{^b[0]}, off); err != nil {
		t.Fatal(err)
	}
}

// TestCrashImageCRC takes crash images in the states a crash can leave a
// bit in the bitmap naming bytes that are not the piece: a piece evicted
// (hole punched) after the bitmap naming it was written, a piece rewritten
// and torn, and a crash between the data sync and the bitmap rename. No
// byte that fails its check is served.
func TestCrashImageCRC(t *testing.T) {
	const pl = 8192
	dir := t.TempDir()
	f := newFake(33, pl, 6*pl)
	c := openCache(t, Options{Dir: dir})
	tr := openTorrent(t, c, f)
	mustPut(t, tr, f, 0, 1, 2, 3)
	if err := c.commit(); err != nil {
		t.Fatal(err)
	}
	// Evict piece 1 (its hole is punched at once); the bitmap naming it
	// stays until the next commit.
	c.mu.Lock()
	c.dropLocked(tr.st, 1)
	c.mu.Unlock()
	// Crash between the data sync and the bitmap rename of piece 4.
	mustPut(t, tr, f, 4)
	c.hook = func(_ [20]byte, step string) error {
		if step == stepRename {
			return unix.EIO
		}
		return nil
	}
	if err := c.commit(); !errors.Is(err, unix.EIO) {
		t.Fatalf("commit: %v", err)
	}
	c.hook = nil

	img := t.TempDir()
	copyTree(t, dir, img)
	// In the image, piece 2 was rewritten and torn: half of it is garbage.
	torn := filepath.Join(torrentDir(&Cache{dir: img}, f.ih), dataName)
	for off := int64(2*pl + pl/2); off < 3*pl; off += 512 {
		corrupt(t, torn, off)
	}
	logs := &logBuf{}
	c2 := openCache(t, Options{Dir: img, Logger: logs.logger()})
	tr2 := openTorrent(t, c2, f)
	if tr2.Pieces() != 4 || !tr2.Has(1) || tr2.Has(4) {
		t.Fatalf("image: %d pieces, Has(1)=%v Has(4)=%v", tr2.Pieces(), tr2.Has(1), tr2.Has(4))
	}
	for p, want := range []bool{true, false, false, true, false, false} {
		if got := readPiece(t, tr2, f, p); got != want {
			t.Fatalf("image piece %d served=%v, want %v\n%s", p, got, want, logs)
		}
	}
	// A block of a dropped piece is not served either.
	if ok, err := tr2.ReadAt(2, 0, make([]byte, 16)); ok || err != nil {
		t.Fatalf("block of torn piece: ok=%v err=%v", ok, err)
	}
	if n := strings.Count(logs.String(), "failed its hash check"); n != 2 {
		t.Fatalf("%d drops logged, want 2:\n%s", n, logs)
	}
	if tr2.Pieces() != 2 {
		t.Fatalf("image after checks: %d pieces", tr2.Pieces())
	}
}

// TestFirstReadCheckShared: concurrent first reads of a piece share one
// check; a check whose read fails releases the others and is retried.
func TestFirstReadCheckShared(t *testing.T) {
	dir := t.TempDir()
	const pl = 256 << 10
	f := newFake(34, pl, 4*pl)
	c := openCache(t, Options{Dir: dir})
	mustPut(t, openTorrent(t, c, f), f, 0, 1, 2, 3)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openCache(t, Options{Dir: dir})
	tr := openTorrent(t, c, f)
	checks := countChecks(c)

	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			p := make([]byte, 16<<10)
			begin := (g % 16) * len(p)
			ok, err := tr.ReadAt(1, begin, p)
			switch {
			case err != nil:
				errc <- err
			case !ok:
				errc <- errors.New("piece 1 not served")
			case !bytes.Equal(p, f.pieces[1][begin:begin+len(p)]):
				errc <- errors.New("wrong bytes")
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if n := checks.Load(); n != 1 {
		t.Fatalf("%d checks of one piece, want 1", n)
	}

	// Check reads nothing more for a piece already checked.
	if ok, err := tr.Check(1); !ok || err != nil || checks.Load() != 1 {
		t.Fatalf("Check of a checked piece: ok=%v err=%v checks=%d", ok, err, checks.Load())
	}

	// A failed read: an error, the piece is kept and checked next time.
	c.hook = func(_ [20]byte, step string) error {
		if step == stepCheck {
			return unix.EIO
		}
		return nil
	}
	if ok, err := tr.Check(2); ok || !errors.Is(err, unix.EIO) {
		t.Fatalf("Check with a failing read: ok=%v err=%v", ok, err)
	}
	checks = countChecks(c)
	if !tr.Has(2) || !readPiece(t, tr, f, 2) || checks.Load() != 1 {
		t.Fatalf("piece 2 after a failed check: Has=%v checks=%d", tr.Has(2), checks.Load())
	}
	if ok, err := tr.Check(5); err == nil || ok {
		t.Fatal("Check out of range: no error")
	}

	// A piece stored again while its check reads: the check's verdict is
	// dropped and the read looks the piece up again (now trusted).
	var once sync.Once
	c.hook = func(_ [20]byte, step string) error {
		if step == stepCheck {
			once.Do(func() { mustPut(t, tr, f, 3) })
		}
		return nil
	}
	p := make([]byte, 100)
	if ok, err := tr.ReadAt(3, 7, p); !ok || err != nil || !bytes.Equal(p, f.pieces[3][7:107]) {
		t.Fatalf("piece replaced during its check: ok=%v err=%v", ok, err)
	}
}

// TestReadAtAllocations: a read of a checked piece is one pread, with no
// allocation; a first read checks in a pooled buffer.
func TestReadAtAllocations(t *testing.T) {
	dir := t.TempDir()
	const pl = 256 << 10
	f := newFake(35, pl, 4*pl)
	c := openCache(t, Options{Dir: dir})
	mustPut(t, openTorrent(t, c, f), f, 0, 1, 2, 3)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openCache(t, Options{Dir: dir})
	tr := openTorrent(t, c, f)
	p := make([]byte, 16<<10)
	if !readPiece(t, tr, f, 0) {
		t.Fatal("piece 0 lost")
	}
	if n := testing.AllocsPerRun(100, func() {
		if ok, err := tr.ReadAt(0, 4096, p); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}); n != 0 {
		t.Fatalf("%.1f allocations per read of a checked piece", n)
	}
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		piece := 1 + i%3
		i++
		c.mu.Lock()
		clearBit(tr.st.verified, piece)
		c.mu.Unlock()
		if ok, err := tr.ReadAt(piece, 4096, p); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}); n > 1 {
		t.Fatalf("%.1f allocations per first read, want at most 1 (its done channel; no piece buffer)", n)
	}
}
