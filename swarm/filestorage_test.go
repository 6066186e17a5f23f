package swarm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestFileStorageWriteAndResume(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 100_000, 0, 1, 70_000)
	dest := t.TempDir()
	ctx := context.Background()
	l := fx.mi.Info.Layout()

	st, err := CreateFileStorage(&fx.mi.Info, dest)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := st.Verify(ctx); err != nil || n != 0 {
		t.Fatalf("fresh storage verified %d pieces (%v), want 0", n, err)
	}
	// Store every other piece, then reopen: exactly those verify.
	for i := 0; i < l.NumPieces; i += 2 {
		off := l.PieceOffset(i)
		if err := st.Put(i, fx.data[off:off+int64(l.PieceSize(i))]); err != nil {
			t.Fatal(err)
		}
		if !st.Has(i) {
			t.Fatalf("piece %d not held after Put", i)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = CreateFileStorage(&fx.mi.Info, dest)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.Verify(ctx)
	if want := (l.NumPieces + 1) / 2; err != nil || n != want {
		t.Fatalf("resumed storage verified %d pieces (%v), want %d", n, err, want)
	}
	for i := range l.NumPieces {
		if st.Has(i) != (i%2 == 0) {
			t.Fatalf("piece %d: Has = %v", i, st.Has(i))
		}
	}
	buf := make([]byte, 1000)
	if ok, err := st.ReadBlock(0, 500, buf); !ok || err != nil || !bytes.Equal(buf, fx.data[500:1500]) {
		t.Fatalf("ReadBlock: ok=%v err=%v", ok, err)
	}
	if ok, _ := st.ReadBlock(1, 0, buf); ok {
		t.Fatal("ReadBlock served a piece that is not held")
	}
	// Files have their full sizes, laid out under dest/NAME.
	for _, f := range fx.mi.Info.Files {
		fi, err := os.Stat(filepath.Join(append([]string{dest, fx.mi.Info.Name}, f.Path...)...))
		if err != nil || fi.Size() != f.Length {
			t.Fatalf("%v: %v size %d", f.Path, err, fi.Size())
		}
	}
}

func TestFileStorageDetectsCorruption(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 200_000)
	p := filepath.Join(fx.dir, fx.mi.Info.Name, filepath.Join(fx.mi.Info.Files[0].Path...))
	b, _ := os.ReadFile(p)
	b[40_000] ^= 1 // inside piece 1
	os.WriteFile(p, b, 0o644)
	st, err := OpenFileStorage(&fx.mi.Info, fx.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, _ := st.Verify(context.Background())
	if n != fx.mi.Info.NumPieces()-1 || st.Has(1) || !st.Has(0) {
		t.Fatalf("verified %d of %d; piece 1 held=%v", n, fx.mi.Info.NumPieces(), st.Has(1))
	}
}
