package metainfo

import (
	"crypto/sha1"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func seeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.torrent"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no seed torrents in testdata: %v", err)
	}
	out := make(map[string][]byte)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestSeeds makes sure every committed seed is a valid torrent, so the
// fuzzer starts from inputs that reach deep into validation.
func TestSeeds(t *testing.T) {
	for name, data := range seeds(t) {
		t.Run(name, func(t *testing.T) {
			m, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, m)
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, data := range seeds(f) {
		f.Add(data)
	}
	f.Add(torrentWith(singleInfo()))
	f.Add(torrentWith(multiInfo()))
	f.Add([]byte("d4:infod6:lengthi1e4:name1:a12:piece lengthi1e6:pieces0:ee"))
	f.Add([]byte("li-1ei0e0:de"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		checkInvariants(t, m)
	})
}

func checkInvariants(t *testing.T, m *MetaInfo) {
	t.Helper()
	if m.InfoHash != sha1.Sum(m.InfoBytes) {
		t.Fatal("InfoHash is not the SHA-1 of InfoBytes")
	}
	info := &m.Info
	if len(info.Files) == 0 {
		t.Fatal("no files")
	}
	if !info.MultiFile && (len(info.Files) != 1 || !reflect.DeepEqual(info.Files[0].Path, []string{info.Name})) {
		t.Fatalf("single-file torrent has files %+v", info.Files)
	}
	var sum int64
	for i, f := range info.Files {
		if f.Offset != sum || f.Length < 0 || len(f.Path) == 0 {
			t.Fatalf("file %d: %+v, want offset %d", i, f, sum)
		}
		for _, c := range f.Path {
			if checkComponent(c) != nil {
				t.Fatalf("file %d: bad path %q", i, f.Path)
			}
		}
		sum += f.Length
	}
	if sum != info.Length || info.Length <= 0 {
		t.Fatalf("files sum to %d, Length %d", sum, info.Length)
	}
	l := info.Layout()
	if want := (l.Length + l.PieceLength - 1) / l.PieceLength; int64(l.NumPieces) != want || info.NumPieces() != l.NumPieces {
		t.Fatalf("%d pieces, want %d", l.NumPieces, want)
	}
	var total int64
	for i := range l.NumPieces {
		if s := l.PieceSize(i); s <= 0 || int64(s) > l.PieceLength {
			t.Fatalf("piece %d has size %d", i, s)
		}
		total += int64(l.PieceSize(i))
	}
	if total != l.Length {
		t.Fatalf("pieces sum to %d, want %d", total, l.Length)
	}
	last := l.NumPieces - 1
	var blocks int
	for b := range l.NumBlocks(last) {
		blocks += l.BlockSize(last, b)
	}
	if blocks != l.PieceSize(last) {
		t.Fatalf("last piece blocks sum to %d, want %d", blocks, l.PieceSize(last))
	}
	if first, end := l.PieceRange(0, l.Length); first != 0 || end != l.NumPieces {
		t.Fatalf("PieceRange(0, Length) = %d, %d", first, end)
	}

	out, err := m.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Encode()): %v", err)
	}
	if back.InfoHash != m.InfoHash || !reflect.DeepEqual(back.Info, m.Info) {
		t.Fatal("Encode changed the info dictionary")
	}
	if !reflect.DeepEqual(back.Trackers(), m.Trackers()) {
		t.Fatalf("Encode changed the trackers: %q != %q", back.Trackers(), m.Trackers())
	}
}

func BenchmarkParse(b *testing.B) {
	files := make([]any, 200)
	for i := range files {
		files[i] = dict{{"length", 1 << 20}, {"path", []string{"season 1", "episode " + string(rune('a'+i%26)) + string(rune('a'+i/26))}}}
	}
	data := torrentWith(dict{
		{"files", files},
		{"name", "show"},
		{"piece length", 1 << 18},
		{"pieces", hashes(200 * 4)},
	})
	if _, err := Parse(data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
