package disk

import (
	"errors"
	"testing"
)

// TestInspectWhileHeld: while one Cache holds the directory (a second Open
// fails with ErrLocked), Inspect lists its torrents as last committed,
// without the lock and without changing anything.
func TestInspectWhileHeld(t *testing.T) {
	dir := t.TempDir()
	c := openCache(t, Options{Dir: dir})
	a, b := newFake(1, 16<<10, 5*16<<10+7), newFake(2, 16<<10, 3*16<<10)
	ta, tb := openTorrent(t, c, a), openTorrent(t, c, b)
	mustPut(t, ta, a, 0, 5) // a full piece and the 7-byte last one
	mustPut(t, tb, b, 1)
	if err := c.commit(); err != nil {
		t.Fatal(err)
	}
	mustPut(t, tb, b, 2) // not committed yet: not seen
	if _, err := Open(t.Context(), Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	got, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[[20]byte]Entry{
		a.ih: {Name: a.meta.Name, Pieces: 2, NumPieces: 6, Bytes: 16<<10 + 7},
		b.ih: {Name: b.meta.Name, Pieces: 1, NumPieces: 3, Bytes: 16 << 10},
	}
	if len(got) != 2 {
		t.Fatalf("Inspect: %d entries, want 2: %+v", len(got), got)
	}
	for _, e := range got {
		w := want[e.InfoHash]
		if e.Name != w.Name || e.Pieces != w.Pieces || e.NumPieces != w.NumPieces || e.Bytes != w.Bytes {
			t.Errorf("entry %+v, want %+v", e, w)
		}
	}
	// The holder is untouched: its own listing still has every piece.
	for _, e := range c.List() {
		if e.InfoHash == b.ih && e.Pieces != 2 {
			t.Fatalf("holder lists %d pieces of b, want 2", e.Pieces)
		}
	}
}
