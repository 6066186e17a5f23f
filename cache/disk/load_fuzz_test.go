package disk

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The load fuzz targets start from a committed cache (fuzzFixture) and
// replace one of its files with the fuzz input before opening it. What is
// checked for every input is in openAndRead.

// fuzzHeld are the pieces of fuzzFake that the fixture holds; the others
// are holes in its data file.
var fuzzHeld = []int{0, 2, 3, 5, 9}

// fuzzFake has 10 pieces, the last one short.
func fuzzFake() fakeTorrent { return newFake(15, 1024, 9*1024+100) }

// fuzzTimeout bounds one input: past it the worker panics, so a hang is
// reported as a crash with its input instead of stalling the run.
const fuzzTimeout = 20 * time.Second

// fuzzFixture commits fuzzHeld of f to a fresh cache and returns its
// directory. Inputs copy it, so building it once per process is enough.
func fuzzFixture(tb testing.TB, f fakeTorrent) string {
	tb.Helper()
	dir := tb.TempDir()
	c := openCache(tb, Options{Dir: dir})
	mustPut(tb, openTorrent(tb, c, f), f, fuzzHeld...)
	if err := c.Close(); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// FuzzBitmap writes the input as a torrent's `pieces` file. mode 0 writes
// it as is; modes 1 and 2 frame it as the body of a format 2 or format 1
// file (magic, piece count, body, checksum) so that inputs get past the
// checksum to the bits and CRCs.
func FuzzBitmap(f *testing.F) {
	fake := fuzzFake()
	tmpl := fuzzFixture(f, fake)
	good, err := os.ReadFile(filepath.Join(tmpl, hex.EncodeToString(fake.ih[:]), piecesName))
	if err != nil {
		f.Fatal(err)
	}
	n := len(fake.pieces)
	head := len(bitmapMagic) + 4
	body := good[head : len(good)-4]
	f.Add(uint8(0), good)
	f.Add(uint8(0), good[:len(good)-1])
	f.Add(uint8(0), []byte{})
	f.Add(uint8(0), encodeBitmapV1([]byte{0xb4, 0x40}, n))
	f.Add(uint8(1), body)
	f.Add(uint8(1), append([]byte{0xff, 0xc0}, body[2:]...)) // every piece held, the holes' CRCs unknown
	f.Add(uint8(1), append([]byte{0xff, 0xc0, 0xff, 0xc0}, body[4:]...))
	f.Add(uint8(2), []byte{0xff, 0xc0})
	f.Add(uint8(2), []byte{0xb4, 0x40})
	f.Fuzz(func(t *testing.T, mode uint8, in []byte) {
		defer time.AfterFunc(fuzzTimeout, func() { panic(fmt.Sprintf("input took over %v", fuzzTimeout)) }).Stop()
		b := in
		switch mode % 3 {
		case 1:
			b = frameBitmap(bitmapMagic, n, in)
		case 2:
			b = frameBitmap(bitmapMagicV1, n, in)
		}
		dir := t.TempDir()
		copyTree(t, tmpl, dir)
		if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString(fake.ih[:]), piecesName), b, 0o600); err != nil {
			t.Fatal(err)
		}

		sums, derr := decodeBitmap(b, n)
		if derr == nil {
			checkSums(t, sums, n)
		}
		ok := openAndRead(t, dir, fake)
		var want []int // with a bitmap that decodes, only pieces whose bytes are there come back
		if derr == nil {
			for _, i := range fuzzHeld {
				if hasBit(sums.held, i) {
					want = append(want, i)
				}
			}
		}
		if !slices.Equal(ok, want) {
			t.Fatalf("pieces read back %v, want %v (decode: %v)", ok, want, derr)
		}
	})
}

// FuzzMeta writes the input as a torrent's `meta` file.
func FuzzMeta(f *testing.F) {
	fake := fuzzFake()
	tmpl := fuzzFixture(f, fake)
	good, err := os.ReadFile(filepath.Join(tmpl, hex.EncodeToString(fake.ih[:]), metaName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"version":1,"name":"t","piece_length":1024,"length":9316,"num_pieces":10,"last_used":-9223372036854775808}`))
	f.Add([]byte(`{"version":1,"piece_length":2048,"length":9316,"num_pieces":5}`))
	f.Add([]byte(`{"version":1,"piece_length":1,"length":67108865,"num_pieces":67108865}`))
	f.Add([]byte(`{"version":1,"piece_length":9223372036854775807,"length":9223372036854775807,"num_pieces":1}`))
	// Regressions: ceil(length/piece_length) overflowed int64 into 0 or -1
	// pieces, and -1 made Inspect and Open panic in makeslice.
	f.Add([]byte(`{"version":1,"piece_length":9223372036854775807,"length":9223372036854775807,"num_pieces":0}`))
	f.Add([]byte(`{"version":1,"piece_length":4611686018427387905,"length":9223372036854775807,"num_pieces":-1}`))
	f.Add([]byte(`{"version":2,"piece_length":1024,"length":9316,"num_pieces":10}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		defer time.AfterFunc(fuzzTimeout, func() { panic(fmt.Sprintf("input took over %v", fuzzTimeout)) }).Stop()
		dir := t.TempDir()
		copyTree(t, tmpl, dir)
		path := filepath.Join(dir, hex.EncodeToString(fake.ih[:]), metaName)
		if err := os.WriteFile(path, in, 0o600); err != nil {
			t.Fatal(err)
		}
		m, merr := readMeta(path)
		if merr == nil {
			checkMeta(t, m)
		}
		ok := openAndRead(t, dir, fake)
		// The bitmap and data are the fixture's: every held piece comes
		// back if and only if the meta is accepted with the torrent's shape.
		var want []int
		if merr == nil && m.PieceLength == fake.meta.PieceLength && m.Length == fake.meta.Length {
			want = fuzzHeld
		}
		if !slices.Equal(ok, want) {
			t.Fatalf("pieces read back %v, want %v (meta %+v, %v)", ok, want, m, merr)
		}
	})
}

// frameBitmap returns a `pieces` file with the given magic, piece count and
// body, and a correct checksum.
func frameBitmap(magic string, n int, body []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte(magic), uint32(n))
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, pieceCRC(b))
}

// checkSums checks a decoded bitmap of n pieces: sizes, no spare bits,
// known within held, a CRC only where known, and it encodes back to a file
// that decodes to the same.
func checkSums(t *testing.T, s pieceSums, n int) {
	t.Helper()
	nb := (n + 7) / 8
	if len(s.held) != nb || len(s.known) != nb || len(s.crcs) != n {
		t.Fatalf("decoded sizes %d, %d, %d for %d pieces", len(s.held), len(s.known), len(s.crcs), n)
	}
	for i := n; i < nb*8; i++ {
		if hasBit(s.held, i) || hasBit(s.known, i) {
			t.Fatalf("spare bit %d set", i)
		}
	}
	for i := range n {
		if hasBit(s.known, i) && !hasBit(s.held, i) || s.crcs[i] != 0 && !hasBit(s.known, i) {
			t.Fatalf("piece %d: held %v, known %v, crc %#x", i, hasBit(s.held, i), hasBit(s.known, i), s.crcs[i])
		}
	}
	back, err := decodeBitmap(encodeBitmap(s, n), n)
	if err != nil || !bytes.Equal(back.held, s.held) || !bytes.Equal(back.known, s.known) || !slices.Equal(back.crcs, s.crcs) {
		t.Fatalf("re-encoded bitmap decodes to %+v, %v; want %+v", back, err, s)
	}
}

// checkMeta checks that an accepted meta describes a torrent that exists:
// num_pieces in [1, maxPieceCount] is exactly ceil(length/piece_length).
func checkMeta(t *testing.T, m metaFile) {
	t.Helper()
	if m.PieceLength <= 0 || m.Length <= 0 || m.NumPieces < 1 || m.NumPieces > maxPieceCount {
		t.Fatalf("accepted meta %+v", m)
	}
	pl, l, n := big.NewInt(m.PieceLength), big.NewInt(m.Length), big.NewInt(int64(m.NumPieces))
	lo := new(big.Int).Mul(pl, new(big.Int).Sub(n, big.NewInt(1)))
	hi := new(big.Int).Mul(pl, n)
	if lo.Cmp(l) >= 0 || hi.Cmp(l) < 0 {
		t.Fatalf("accepted meta %+v: %d pieces of %d do not make %d bytes", m, m.NumPieces, m.PieceLength, m.Length)
	}
}

// openAndRead inspects and opens the cache in dir, opens f in it and reads
// every piece, checking that the views agree and that no piece is read
// back other than with its own bytes. It closes the cache, checks that
// what was committed matches what was read, and returns the pieces read.
func openAndRead(t *testing.T, dir string, f fakeTorrent) []int {
	t.Helper()
	seen, err := Inspect(dir)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if len(seen) > 1 || len(seen) == 1 && seen[0].InfoHash != f.ih {
		t.Fatalf("Inspect: %+v", seen)
	}
	for _, e := range seen {
		if e.NumPieces < 1 || e.NumPieces > maxPieceCount || e.Pieces < 0 || e.Pieces > e.NumPieces || e.Bytes < 0 ||
			e.Pieces == 0 && e.Bytes != 0 || e.Open {
			t.Fatalf("Inspect: %+v", e)
		}
	}

	c, err := Open(t.Context(), Options{Dir: dir, SyncEvery: time.Hour})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	list := c.List()
	if len(list) > 1 || len(list) < len(seen) {
		t.Fatalf("List %+v, Inspect %+v", list, seen)
	}
	var usage int64
	for _, e := range list {
		if len(seen) == 0 {
			// Inspect leaves out a torrent whose bitmap does not decode;
			// Open keeps it, empty.
			if e.Pieces != 0 || e.Bytes != 0 {
				t.Fatalf("List %+v, not in Inspect", e)
			}
			continue
		}
		s := seen[0]
		// Open may drop the bitmap's pieces (data file missing or of the
		// wrong size) but otherwise sees what Inspect saw.
		if e.InfoHash != s.InfoHash || e.Name != s.Name || e.NumPieces != s.NumPieces || !e.LastUsed.Equal(s.LastUsed) ||
			(e.Pieces != s.Pieces || e.Bytes != s.Bytes) && (e.Pieces != 0 || e.Bytes != 0) {
			t.Fatalf("List %+v, Inspect %+v", e, s)
		}
		usage += e.Bytes
	}
	if len(list) == 0 {
		if _, err := os.Stat(torrentDir(c, f.ih)); !os.IsNotExist(err) {
			t.Fatalf("unreadable torrent directory kept: %v", err)
		}
	}
	if c.Usage() != usage {
		t.Fatalf("Usage %d, List says %d", c.Usage(), usage)
	}

	tr, err := c.Torrent(f.ih, f.meta)
	if err != nil {
		t.Fatalf("Torrent: %v", err)
	}
	var ok []int
	var bytesOK int64
	p := make([]byte, f.meta.PieceLength)
	for i, want := range f.pieces {
		has := tr.Has(i)
		got, err := tr.ReadAt(i, 0, p[:len(want)])
		if err != nil {
			t.Fatalf("ReadAt(%d): %v", i, err)
		}
		if got && (!has || !bytes.Equal(p[:len(want)], want)) {
			t.Fatalf("piece %d read back (held %v) with the wrong bytes", i, has)
		}
		if got {
			ok = append(ok, i)
			bytesOK += int64(len(want))
		}
	}
	if tr.Pieces() != len(ok) || c.Usage() != bytesOK {
		t.Fatalf("after reading every piece: %d held, usage %d; %d pieces of %d bytes read back",
			tr.Pieces(), c.Usage(), len(ok), bytesOK)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// What is committed now is what was read back.
	after, err := Inspect(dir)
	if err != nil || len(after) != 1 || after[0].Pieces != len(ok) || after[0].Bytes != bytesOK ||
		after[0].NumPieces != len(f.pieces) {
		t.Fatalf("Inspect after Close: %+v, %v; want %d pieces of %d bytes", after, err, len(ok), bytesOK)
	}
	return ok
}

// TestNumPiecesNoOverflow: ceil(length/pieceLen) near the int64 limit was
// computed as (length+pieceLen-1)/pieceLen, which wrapped to 0 or -1
// pieces; a meta file saying -1 made Open and Inspect panic.
func TestNumPiecesNoOverflow(t *testing.T) {
	const maxInt64 = 1<<63 - 1
	tests := []struct {
		pieceLen, length int64
		want             int // 0: an error
	}{
		{maxInt64, maxInt64, 1},
		{1<<62 + 1, maxInt64, 2},
		{maxInt64 - 1, maxInt64, 2},
		{1 << 40, maxInt64, 1 << 23},
		{1, maxInt64, 0},
		{1024, 9*1024 + 100, 10},
		{1024, 10 * 1024, 10},
		{1, maxPieceCount, maxPieceCount},
		{1, maxPieceCount + 1, 0},
	}
	for _, tt := range tests {
		n, err := numPieces(tt.pieceLen, tt.length)
		if tt.want == 0 && err == nil || tt.want != 0 && (err != nil || n != tt.want) {
			t.Errorf("numPieces(%d, %d) = %d, %v; want %d", tt.pieceLen, tt.length, n, err, tt.want)
		}
	}
}
