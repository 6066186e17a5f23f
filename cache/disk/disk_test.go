package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name             string
		pieceLen, length int64
	}{
		{"short last piece", 16 << 10, 3*16<<10 + 100},
		{"exact multiple", 16 << 10, 4 * 16 << 10},
		{"single short piece", 1 << 20, 1000},
		{"odd piece length", 1000, 7*1000 + 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(uint64(i), tc.pieceLen, tc.length)
			c := openCache(t, Options{Dir: t.TempDir()})
			tr := openTorrent(t, c, f)
			n := len(f.pieces)
			if tr.Has(0) || tr.Pieces() != 0 || readPiece(t, tr, f, 0) {
				t.Fatal("empty torrent holds piece 0")
			}
			var want int64
			for p := 0; p < n; p += 2 { // every other piece, and always the last
				mustPut(t, tr, f, p)
				want += int64(len(f.pieces[p]))
			}
			if n%2 == 0 {
				mustPut(t, tr, f, n-1)
				want += int64(len(f.pieces[n-1]))
			}
			for p := range n {
				held := p%2 == 0 || p == n-1
				if tr.Has(p) != held || readPiece(t, tr, f, p) != held {
					t.Fatalf("piece %d: Has=%v, want %v", p, tr.Has(p), held)
				}
			}
			if got := c.Usage(); got != want {
				t.Fatalf("Usage = %d, want %d", got, want)
			}
			// A block in the middle of the last piece.
			last := f.pieces[n-1]
			p := make([]byte, len(last)/2)
			if ok, err := tr.ReadAt(n-1, len(last)/4, p); !ok || err != nil || !bytes.Equal(p, last[len(last)/4:][:len(p)]) {
				t.Fatalf("partial ReadAt: ok=%v err=%v", ok, err)
			}
			if tr.Pieces() != (n+1)/2+(1-n%2) {
				t.Fatalf("Pieces = %d", tr.Pieces())
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	f := newFake(1, 1024, 2500)
	c := openCache(t, Options{Dir: t.TempDir()})
	tr := openTorrent(t, c, f)
	mustPut(t, tr, f, 0)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"put out of range", tr.Put(3, f.pieces[0])},
		{"put negative", tr.Put(-1, f.pieces[0])},
		{"put wrong size", tr.Put(2, f.pieces[0])},
		{"read past piece", func() error { _, err := tr.ReadAt(0, 1000, make([]byte, 25)); return err }()},
		{"read negative begin", func() error { _, err := tr.ReadAt(0, -1, make([]byte, 1)); return err }()},
		{"read out of range", func() error { _, err := tr.ReadAt(3, 0, nil); return err }()},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := c.Torrent([20]byte{9}, Meta{PieceLength: 10, Length: 100, Hashes: make([][20]byte, 3)}); err == nil {
		t.Error("Torrent with wrong hash count: no error")
	}
	if _, err := c.Torrent(f.ih, f.meta); err == nil {
		t.Error("second Torrent of an open torrent: no error")
	}
	tr.Close()
	if err := tr.Put(1, f.pieces[1]); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	if _, err := tr.ReadAt(0, 0, make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ReadAt after Close: %v", err)
	}
}

// TestPersistenceRehash shows pieces survive a reopen and that the first
// read of each is checked: a piece corrupted on disk while closed fails its
// CRC-32C, then its SHA-1, and is dropped.
func TestPersistenceRehash(t *testing.T) {
	dir := t.TempDir()
	f := newFake(2, 32<<10, 4*32<<10+5)
	c := openCache(t, Options{Dir: dir})
	tr := openTorrent(t, c, f)
	mustPut(t, tr, f, 0, 1, 2, 4)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	data := filepath.Join(torrentDir(c, f.ih), dataName)
	fd, err := os.OpenFile(data, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.WriteAt([]byte{^f.pieces[2][100]}, 2*32<<10+100); err != nil {
		t.Fatal(err)
	}
	fd.Close()

	logs := &logBuf{}
	c = openCache(t, Options{Dir: dir, Logger: logs.logger()})
	tr = openTorrent(t, c, f)
	if tr.Pieces() != 4 || !tr.Has(2) {
		t.Fatalf("after reopen: %d pieces, Has(2)=%v", tr.Pieces(), tr.Has(2))
	}
	if readPiece(t, tr, f, 2) {
		t.Fatal("corrupted piece 2 was served")
	}
	if tr.Has(2) || tr.Pieces() != 3 {
		t.Fatal("corrupted piece 2 still held")
	}
	if !strings.Contains(logs.String(), "failed its hash check") || !strings.Contains(logs.String(), "crc_known=true") {
		t.Errorf("no warning logged for a piece with a CRC:\n%s", logs)
	}
	if _, err := os.Stat(data); err != nil || allocatedPath(t, data) > 3*32<<10 {
		t.Errorf("the dropped piece's hole was not punched: %d bytes allocated", allocatedPath(t, data))
	}
	for _, p := range []int{0, 1, 4} {
		if !readPiece(t, tr, f, p) {
			t.Fatalf("piece %d lost", p)
		}
	}
	// The drop is persisted; a small read of a reopened piece is checked too.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openCache(t, Options{Dir: dir})
	tr = openTorrent(t, c, f)
	if tr.Pieces() != 3 || tr.Has(2) {
		t.Fatalf("after second reopen: %d pieces", tr.Pieces())
	}
	p := make([]byte, 3)
	if ok, err := tr.ReadAt(4, 1, p); !ok || err != nil || !bytes.Equal(p, f.pieces[4][1:4]) {
		t.Fatalf("short read of last piece: ok=%v err=%v", ok, err)
	}
}

func readBitmapFile(t *testing.T, path string, n int) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return make([]byte, (n+7)/8)
	}
	if err != nil {
		t.Fatal(err)
	}
	bm, err := decodeBitmap(b, n)
	if err != nil {
		t.Fatal(err)
	}
	return bm.held
}

// TestCommitOrder shows the data is fdatasync'ed before the bitmap naming
// it is written, and that a failed fdatasync leaves the bitmap untouched.
func TestCommitOrder(t *testing.T) {
	f := newFake(3, 4096, 8*4096)
	c := openCache(t, Options{Dir: t.TempDir()})
	tr := openTorrent(t, c, f)
	piecesPath := filepath.Join(torrentDir(c, f.ih), piecesName)

	var steps []string
	failSync, watch := false, 3
	c.hook = func(_ [20]byte, step string) error {
		steps = append(steps, step)
		if step == stepDatasync {
			if hasBit(readBitmapFile(t, piecesPath, 8), watch) {
				t.Errorf("bitmap names piece %d before its data was synced", watch)
			}
			if failSync {
				return unix.EIO
			}
		}
		return nil
	}

	mustPut(t, tr, f, 3)
	if !tr.Has(3) || !readPiece(t, tr, f, 3) {
		t.Fatal("piece not readable right after Put")
	}
	if hasBit(readBitmapFile(t, piecesPath, 8), 3) {
		t.Fatal("bitmap written before any commit")
	}
	if err := c.commit(); err != nil {
		t.Fatal(err)
	}
	want := []string{stepDatasync, stepWriteTmp, stepFsyncTmp, stepRename, stepFsyncDir,
		stepWriteMeta, stepWriteTmp, stepFsyncTmp, stepRename, stepFsyncDir}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps:\n got %q\nwant %q", steps, want)
	}
	if !hasBit(readBitmapFile(t, piecesPath, 8), 3) {
		t.Fatal("bitmap lacks piece 3 after commit")
	}

	// A failed fdatasync: the bitmap is not written, the piece loses its
	// trust (checked again on its next read) and the next commit retries.
	failSync, steps, watch = true, nil, 5
	mustPut(t, tr, f, 5)
	if err := c.commit(); !errors.Is(err, unix.EIO) {
		t.Fatalf("commit with failing fdatasync: %v", err)
	}
	if !slices.Equal(steps, []string{stepDatasync}) {
		t.Fatalf("steps after failed sync: %q", steps)
	}
	if hasBit(readBitmapFile(t, piecesPath, 8), 5) {
		t.Fatal("bitmap names piece 5 whose data sync failed")
	}
	c.mu.Lock()
	trusted := hasBit(tr.st.verified, 5)
	c.mu.Unlock()
	if trusted {
		t.Fatal("piece 5 still trusted after a failed sync")
	}
	if !readPiece(t, tr, f, 5) { // checked again (its CRC), fine
		t.Fatal("piece 5 lost")
	}
	failSync, steps = false, nil
	if err := c.commit(); err != nil {
		t.Fatal(err)
	}
	if steps[0] != stepDatasync || !hasBit(readBitmapFile(t, piecesPath, 8), 5) {
		t.Fatalf("retry: steps %q", steps)
	}
}

// TestCrashImage copies the directory as a crash would leave it, before
// and after a commit, and opens the copy.
func TestCrashImage(t *testing.T) {
	dir := t.TempDir()
	f := newFake(4, 8192, 6*8192)
	c := openCache(t, Options{Dir: dir})
	tr := openTorrent(t, c, f)
	mustPut(t, tr, f, 0, 1, 2)

	crash := func() *Torrent {
		img := t.TempDir()
		copyTree(t, dir, img)
		c2 := openCache(t, Options{Dir: img})
		return openTorrent(t, c2, f)
	}
	tr2 := crash()
	if tr2.Pieces() != 0 {
		t.Fatalf("before any commit the image holds %d pieces", tr2.Pieces())
	}
	if c.commit() != nil {
		t.Fatal("commit failed")
	}
	mustPut(t, tr, f, 3) // written but not committed
	tr2 = crash()
	for p := range 6 {
		if got, want := readPiece(t, tr2, f, p), p < 3; got != want {
			t.Fatalf("image piece %d: held=%v, want %v", p, got, want)
		}
	}
	// The uncommitted piece's blocks were given back at Open.
	a, err := allocated(tr2.st.data)
	if err != nil || a > 3*8192+4096 {
		t.Fatalf("image allocates %d bytes (%v)", a, err)
	}
}

func TestBadBitmap(t *testing.T) {
	f := newFake(5, 4096, 10*4096)
	sums := func(held, known []byte, crcs map[int]uint32) pieceSums {
		s := newPieceSums(10)
		copy(s.held, held)
		copy(s.known, known)
		for i, c := range crcs {
			s.crcs[i] = c
		}
		return s
	}
	good := encodeBitmap(sums([]byte{0xff, 0xc0}, []byte{0x80, 0}, map[int]uint32{0: 7}), 10)
	goodV1 := encodeBitmapV1([]byte{0xff, 0xc0}, 10)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"garbage", []byte("not a bitmap at all, really")},
		{"torn", good[:len(good)-3]},
		{"wrong count", encodeBitmap(newPieceSums(12), 12)},
		{"bad checksum", append(slices.Clone(good[:len(good)-1]), good[len(good)-1]^1)},
		{"spare bits", encodeBitmap(sums([]byte{0xff, 0xff}, nil, nil), 10)},
		{"spare known bits", encodeBitmap(sums([]byte{0xff, 0xc0}, []byte{0, 0x20}, nil), 10)},
		{"too long", append(slices.Clone(good), 0)},
		{"crc of a piece not held", encodeBitmap(sums([]byte{0x7f, 0xc0}, []byte{0x80, 0}, map[int]uint32{0: 7}), 10)},
		{"crc marked unknown", encodeBitmap(sums([]byte{0xff, 0xc0}, nil, map[int]uint32{1: 7}), 10)},
		{"format 1 torn", goodV1[:len(goodV1)-1]},
		{"format 1 bad checksum", append(slices.Clone(goodV1[:len(goodV1)-1]), goodV1[len(goodV1)-1]^1)},
		{"format 1 spare bits", encodeBitmapV1([]byte{0xff, 0xff}, 10)},
		{"format 1 body, format 2 magic", append([]byte(bitmapMagic), goodV1[len(bitmapMagicV1):]...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := openCache(t, Options{Dir: dir})
			tr := openTorrent(t, c, f)
			mustPut(t, tr, f, 0, 1)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(torrentDir(c, f.ih), piecesName), tc.b, 0o600); err != nil {
				t.Fatal(err)
			}
			c = openCache(t, Options{Dir: dir})
			tr = openTorrent(t, c, f)
			if tr.Pieces() != 0 || c.Usage() != 0 || readPiece(t, tr, f, 0) {
				t.Fatalf("bad bitmap trusted: %d pieces", tr.Pieces())
			}
			mustPut(t, tr, f, 9)
			if !readPiece(t, tr, f, 9) {
				t.Fatal("Put after a bad bitmap failed")
			}
		})
	}
	if s, err := decodeBitmap(good, 10); err != nil || s.crcs[0] != 7 || !hasBit(s.known, 0) || hasBit(s.known, 1) {
		t.Fatalf("good bitmap: %+v, %v", s, err)
	}
	if s, err := decodeBitmap(goodV1, 10); err != nil || countBits(s.held) != 10 || countBits(s.known) != 0 {
		t.Fatalf("good format 1 bitmap: %+v, %v", s, err)
	}
}

func allocatedPath(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func TestBudget(t *testing.T) {
	const pl = 64 << 10
	f := newFake(6, pl, 20*pl)
	c := openCache(t, Options{Dir: t.TempDir(), MaxBytes: 5 * pl})
	tr := openTorrent(t, c, f)
	data := filepath.Join(torrentDir(c, f.ih), dataName)
	for p := range 20 {
		mustPut(t, tr, f, p)
		if u := c.Usage(); u > 5*pl {
			t.Fatalf("after piece %d: Usage %d > budget", p, u)
		}
		if a := allocatedPath(t, data); a > 6*pl {
			t.Fatalf("after piece %d: %d bytes allocated", p, a)
		}
	}
	for p := range 20 {
		if got, want := readPiece(t, tr, f, p), p >= 15; got != want {
			t.Fatalf("piece %d held=%v, want %v", p, got, want)
		}
	}
	if tr.Pieces() != 5 || c.Usage() != 5*pl {
		t.Fatalf("Pieces %d Usage %d", tr.Pieces(), c.Usage())
	}

	// A piece larger than the budget is not stored.
	big := newFake(7, 6*pl, 6*pl)
	tb := openTorrent(t, c, big)
	if err := tb.Put(0, big.pieces[0]); err != nil || tb.Has(0) {
		t.Fatalf("oversized piece: err=%v held=%v", err, tb.Has(0))
	}
	if tr.Pieces() != 5 {
		t.Fatal("oversized piece evicted others")
	}
}

func TestLRU(t *testing.T) {
	const pl = 4096
	f := newFake(8, pl, 10*pl)
	c := openCache(t, Options{Dir: t.TempDir(), MaxBytes: 5 * pl})
	tr := openTorrent(t, c, f)
	mustPut(t, tr, f, 0, 1, 2, 3, 4)
	readPiece(t, tr, f, 0) // now most recent
	mustPut(t, tr, f, 1)   // already held: an access too
	mustPut(t, tr, f, 5, 6)
	for p, want := range []bool{true, true, false, false, true, true, true} {
		if tr.Has(p) != want {
			t.Fatalf("piece %d held=%v, want %v", p, !want, want)
		}
	}
}

func TestClosedTorrentEvictedFirst(t *testing.T) {
	const pl = 4096
	a, b := newFake(9, pl, 10*pl), newFake(10, pl, 10*pl)
	c := openCache(t, Options{Dir: t.TempDir(), MaxBytes: 5 * pl})
	ta := openTorrent(t, c, a)
	tb := openTorrent(t, c, b)
	mustPut(t, ta, a, 0, 1, 2) // oldest
	mustPut(t, tb, b, 0, 1)
	tb.Close()
	mustPut(t, ta, a, 3, 4)
	if ta.Pieces() != 5 || tb.Pieces() != 0 {
		t.Fatalf("open torrent %d pieces, closed %d", ta.Pieces(), tb.Pieces())
	}
	mustPut(t, ta, a, 5) // now the open torrent's own LRU
	if ta.Has(0) || !ta.Has(1) {
		t.Fatal("LRU across open torrent not respected")
	}
}

// TestOpenOrdersByLastUsed reopens with a smaller budget: the pieces of the
// torrent used longest ago go first.
func TestOpenOrdersByLastUsed(t *testing.T) {
	const pl = 4096
	dir := t.TempDir()
	a, b := newFake(11, pl, 4*pl), newFake(12, pl, 4*pl)
	c := openCache(t, Options{Dir: dir})
	for _, f := range []fakeTorrent{a, b} {
		tr := openTorrent(t, c, f)
		mustPut(t, tr, f, 0, 1, 2, 3)
		tr.Close()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Make a used an hour later than b.
	mp := filepath.Join(torrentDir(c, a.ih), metaName)
	m, err := readMeta(mp)
	if err != nil {
		t.Fatal(err)
	}
	m.LastUsed += 3600
	if err := os.WriteFile(mp, marshalMeta(m), 0o600); err != nil {
		t.Fatal(err)
	}
	c = openCache(t, Options{Dir: dir, MaxBytes: 6 * pl})
	got := map[string]int{}
	for _, e := range c.List() {
		got[e.Name] = e.Pieces
	}
	if got[a.meta.Name] != 4 || got[b.meta.Name] != 2 || c.Usage() != 6*pl {
		t.Fatalf("after reopen: %v, usage %d", got, c.Usage())
	}
}

// TestDiskFull fills a 1 MiB tmpfs.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("SKIPPING DISK-FULL TEST: cannot mount a tmpfs (need root): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	// Leave ~640 KiB for the cache: room for two 256 KiB pieces, not three.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 384<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	const pl = 256 << 10
	f := newFake(13, pl, 8*pl)
	logs := &logBuf{}
	c := openCache(t, Options{Dir: filepath.Join(dir, "cache"), Logger: logs.logger()})
	tr := openTorrent(t, c, f)
	mustPut(t, tr, f, 0, 1)
	for _, p := range []int{2, 3, 4} {
		err := tr.Put(p, f.pieces[p])
		if !errors.Is(err, ErrFull) || !errors.Is(err, unix.ENOSPC) {
			t.Fatalf("Put(%d) on a full disk: %v", p, err)
		}
		if tr.Has(p) {
			t.Fatalf("piece %d held after ENOSPC", p)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs)
	}
	if err := c.commit(); err != nil {
		t.Fatalf("commit on the full disk: %v", err)
	}
	if !readPiece(t, tr, f, 0) || !readPiece(t, tr, f, 1) || tr.Pieces() != 2 {
		t.Fatal("earlier pieces lost")
	}
	// Space comes back.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustPut(t, tr, f, 2)
	if !readPiece(t, tr, f, 2) {
		t.Fatal("Put after space came back")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs)
	}
}

func TestListRemove(t *testing.T) {
	const pl = 4096
	dir := t.TempDir()
	fs := []fakeTorrent{newFake(14, pl, 3*pl), newFake(15, pl, 3*pl), newFake(16, pl, 3*pl)}
	fs[0].meta.Name, fs[1].meta.Name, fs[2].meta.Name = "charlie", "alpha", "bravo"
	c := openCache(t, Options{Dir: dir})
	var trs []*Torrent
	for i, f := range fs {
		tr := openTorrent(t, c, f)
		mustPut(t, tr, f, 0)
		if i == 0 {
			mustPut(t, tr, f, 2)
		}
		trs = append(trs, tr)
	}
	trs[1].Close()
	trs[2].Close()
	l := c.List()
	if len(l) != 3 || l[0].Name != "alpha" || l[1].Name != "bravo" || l[2].Name != "charlie" {
		t.Fatalf("List: %+v", l)
	}
	e := l[2]
	if e.InfoHash != fs[0].ih || e.Pieces != 2 || e.NumPieces != 3 || e.Bytes != 2*pl || !e.Open ||
		time.Since(e.LastUsed) > time.Minute || l[0].Open {
		t.Fatalf("entry: %+v", e)
	}

	if err := c.Remove(fs[0].ih); err == nil {
		t.Fatal("Remove of an open torrent succeeded")
	}
	if err := c.Remove(fs[1].ih); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(fs[1].ih); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("second Remove: %v", err)
	}
	if _, err := os.Stat(torrentDir(c, fs[1].ih)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("directory still there")
	}
	if err := c.RemoveAll(); err != nil {
		t.Fatal(err)
	}
	if l := c.List(); len(l) != 1 || l[0].Name != "charlie" || c.Usage() != 2*pl {
		t.Fatalf("after RemoveAll: %+v usage %d", l, c.Usage())
	}
	// A removed torrent can come back, empty.
	tr := openTorrent(t, c, fs[1])
	if tr.Pieces() != 0 {
		t.Fatal("removed torrent kept pieces")
	}
	mustPut(t, tr, fs[1], 1)
	if err := c.commit(); err != nil {
		t.Fatal(err)
	}
}

func TestMetaMismatchWipes(t *testing.T) {
	dir := t.TempDir()
	f := newFake(17, 4096, 4*4096)
	c := openCache(t, Options{Dir: dir})
	tr := openTorrent(t, c, f)
	mustPut(t, tr, f, 0, 1)
	tr.Close()

	tests := []struct {
		name   string
		change func(*Meta)
	}{
		{"length", func(m *Meta) { m.Length = 4*4096 - 1 }},
		{"piece length", func(m *Meta) { m.PieceLength = 8192; m.Hashes = m.Hashes[:2] }},
		{"same again", func(*Meta) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := openTorrent(t, c, f)
			mustPut(t, tr, f, 0)
			tr.Close()
			g := f
			g.meta.Hashes = slices.Clone(f.meta.Hashes)
			tc.change(&g.meta)
			tr = openTorrent(t, c, g)
			defer tr.Close()
			if tc.name == "same again" {
				if tr.Pieces() == 0 {
					t.Fatal("unchanged torrent was wiped")
				}
				return
			}
			fi, err := os.Stat(filepath.Join(torrentDir(c, f.ih), dataName))
			if tr.Pieces() != 0 || c.Usage() != 0 || err != nil || fi.Size() != g.meta.Length {
				t.Fatalf("not wiped: %d pieces, usage %d, stat %v", tr.Pieces(), c.Usage(), err)
			}
		})
	}
	// The wiped shape persists.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := readMeta(filepath.Join(torrentDir(c, f.ih), metaName))
	if err != nil || m.Length != f.meta.Length || m.Name != f.meta.Name {
		t.Fatalf("meta after wipes: %+v %v", m, err)
	}
}

func TestOpenJunk(t *testing.T) {
	dir := t.TempDir()
	f := newFake(18, 4096, 2*4096)
	c := openCache(t, Options{Dir: dir})
	tr := openTorrent(t, c, f)
	mustPut(t, tr, f, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	badMeta := filepath.Join(dir, strings.Repeat("ab", 20))
	noMeta := filepath.Join(dir, strings.Repeat("cd", 20))
	upper := filepath.Join(dir, strings.Repeat("EF", 20))
	for _, d := range []string{badMeta, noMeta, upper, filepath.Join(dir, "not-a-hash")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for path, content := range map[string]string{
		filepath.Join(dir, "README"):                             "hello",
		filepath.Join(badMeta, metaName):                         "{not json",
		filepath.Join(dir, strings.Repeat("12", 20)):             "a file named like a hash",
		filepath.Join(torrentDir(c, f.ih), piecesName+tmpSuffix): "leftover",
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(torrentDir(c, f.ih), filepath.Join(dir, strings.Repeat("34", 20))); err != nil {
		t.Fatal(err)
	}

	c = openCache(t, Options{Dir: dir})
	if l := c.List(); len(l) != 1 || l[0].InfoHash != f.ih || l[0].Pieces != 1 {
		t.Fatalf("List: %+v", l)
	}
	for _, gone := range []string{badMeta, noMeta, filepath.Join(torrentDir(c, f.ih), piecesName+tmpSuffix)} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed", gone)
		}
	}
	for _, kept := range []string{upper, filepath.Join(dir, "README"), filepath.Join(dir, "not-a-hash")} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%s touched: %v", kept, err)
		}
	}
	tr = openTorrent(t, c, f)
	if !readPiece(t, tr, f, 1) {
		t.Fatal("piece lost")
	}
}

func TestOpenLockedAndCanceled(t *testing.T) {
	dir := t.TempDir()
	openCache(t, Options{Dir: dir})
	if _, err := Open(context.Background(), Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	other := t.TempDir()
	if err := os.Mkdir(filepath.Join(other, strings.Repeat("ab", 20)), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Options{Dir: other}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a canceled context: %v", err)
	}
	// The lock was released: a later Open works.
	openCache(t, Options{Dir: other})
}

// TestBackgroundCommit lets the goroutine do the commit.
func TestBackgroundCommit(t *testing.T) {
	f := newFake(19, 4096, 2*4096)
	c := openCache(t, Options{Dir: t.TempDir(), SyncEvery: 5 * time.Millisecond})
	tr := openTorrent(t, c, f)
	mustPut(t, tr, f, 1)
	path := filepath.Join(torrentDir(c, f.ih), piecesName)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if hasBit(readBitmapFile(t, path, 2), 1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no background commit")
		}
	}
}

// TestConcurrent races Puts, reads, first-read checks and evictions on a
// tight budget: a successful read must always return the right bytes, and
// a check never drops a good piece (run with -race).
func TestConcurrent(t *testing.T) {
	const pl = 4096
	a, b := newFake(20, pl, 64*pl), newFake(21, pl, 64*pl)
	logs := &logBuf{}
	c := openCache(t, Options{Dir: t.TempDir(), MaxBytes: 16 * pl, SyncEvery: time.Millisecond, Logger: logs.logger()})
	ta, tb := openTorrent(t, c, a), openTorrent(t, c, b)
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := range 8 {
		tr, f := ta, a
		if g%2 == 1 {
			tr, f = tb, b
		}
		wg.Go(func() {
			p := make([]byte, pl)
			for i := range 2000 {
				piece := (i*7 + g*13) % 64
				switch i % 6 {
				case 0, 3:
					if err := tr.Put(piece, f.pieces[piece]); err != nil {
						errc <- err
						return
					}
					continue
				case 1: // forget the trust: the next read is a first-read check
					c.mu.Lock()
					clearBit(tr.st.verified, piece)
					c.mu.Unlock()
				case 2:
					if _, err := tr.Check(piece); err != nil {
						errc <- err
						return
					}
				}
				begin := (i % 4) * 1024
				ok, err := tr.ReadAt(piece, begin, p[:pl-begin])
				if err != nil {
					errc <- err
					return
				}
				if ok && !bytes.Equal(p[:pl-begin], f.pieces[piece][begin:]) {
					errc <- fmt.Errorf("piece %d: wrong bytes", piece)
					return
				}
				if u := c.Usage(); u > 16*pl {
					errc <- fmt.Errorf("usage %d over budget", u)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("warnings:\n%s", logs)
	}
}
