package metainfo

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// pattern returns n bytes that differ from file to file and piece to piece.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed*13 + i/251)
	}
	return b
}

// makeTree creates a tree with nested directories, a hidden file, a 0-byte
// and a 1-byte file, sizes that are not multiples of 16 KiB and an empty
// directory. It returns the root and the expected files in lexical order.
func makeTree(t *testing.T) (string, []string, [][]byte) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	files := []struct {
		path string
		size int
	}{
		{".hidden", 5000},
		{"a/b/c.bin", 40000},
		{"a/one", 1},
		{"a/zero", 0},
		{"top.bin", 16385},
		{"z/deep/er/x", 70001},
	}
	var paths []string
	var data [][]byte
	for i, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		d := pattern(i, f.size)
		writeFile(t, p, d)
		paths = append(paths, f.path)
		data = append(data, d)
	}
	if err := os.MkdirAll(filepath.Join(root, "empty", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root, paths, data
}

// checkPieces re-hashes the concatenated data independently.
func checkPieces(t *testing.T, m *MetaInfo, all []byte) {
	t.Helper()
	pl := int(m.Info.PieceLength)
	want := (len(all) + pl - 1) / pl
	if m.Info.NumPieces() != want {
		t.Fatalf("NumPieces = %d, want %d", m.Info.NumPieces(), want)
	}
	for i := range want {
		piece := all[i*pl : min((i+1)*pl, len(all))]
		if sha1.Sum(piece) != m.Info.Pieces[i] {
			t.Errorf("piece %d: hash mismatch", i)
		}
	}
}

func roundTrip(t *testing.T, m *MetaInfo) {
	t.Helper()
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Encode()): %v", err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", back, m)
	}
}

func TestBuildTree(t *testing.T) {
	root, paths, data := makeTree(t)
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, pl := range []int64{0, 16384, 32768, 1 << 20, 40000} {
		opts := BuildOptions{
			PieceLength:  pl,
			Trackers:     [][]string{{"http://127.0.0.1:1/a", ""}, {"udp://127.0.0.1:2", "http://127.0.0.1:1/a"}},
			Comment:      "test",
			Private:      true,
			CreationDate: date,
		}
		m, err := Build(context.Background(), root, opts)
		if err != nil {
			t.Fatalf("piece length %d: %v", pl, err)
		}
		if pl == 0 && m.Info.PieceLength != 16384 {
			t.Errorf("automatic piece length = %d, want 16384 for a small tree", m.Info.PieceLength)
		} else if pl != 0 && m.Info.PieceLength != pl {
			t.Errorf("piece length = %d, want %d", m.Info.PieceLength, pl)
		}
		if m.Info.Name != "tree" || !m.Info.MultiFile || !m.Info.Private {
			t.Errorf("info = %q multi %v private %v", m.Info.Name, m.Info.MultiFile, m.Info.Private)
		}
		var got []string
		var off int64
		for i, f := range m.Info.Files {
			got = append(got, strings.Join(f.Path, "/"))
			if f.Length != int64(len(data[i])) || f.Offset != off {
				t.Errorf("file %d: length %d offset %d, want %d %d", i, f.Length, f.Offset, len(data[i]), off)
			}
			off += f.Length
		}
		if !reflect.DeepEqual(got, paths) {
			t.Errorf("files = %q, want %q", got, paths)
		}
		checkPieces(t, m, bytes.Join(data, nil))
		if m.Announce != "http://127.0.0.1:1/a" ||
			!reflect.DeepEqual(m.AnnounceList, [][]string{{"http://127.0.0.1:1/a"}, {"udp://127.0.0.1:2"}}) {
			t.Errorf("announce %q, list %q", m.Announce, m.AnnounceList)
		}
		if m.CreatedBy != "btfs" || m.Comment != "test" || !m.CreationDate.Equal(date) {
			t.Errorf("created by %q, comment %q, date %v", m.CreatedBy, m.Comment, m.CreationDate)
		}
		if m.InfoHash != sha1.Sum(m.InfoBytes) {
			t.Error("InfoHash is not the SHA-1 of InfoBytes")
		}
		roundTrip(t, m)
	}
}

func TestBuildSingleFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "video.bin")
	data := pattern(3, 3*BlockSize+17)
	writeFile(t, p, data)
	m, err := Build(context.Background(), p, BuildOptions{PieceLength: 2 * BlockSize, CreatedBy: "me"})
	if err != nil {
		t.Fatal(err)
	}
	want := []File{{Path: []string{"video.bin"}, Length: int64(len(data))}}
	if m.Info.MultiFile || m.Info.Name != "video.bin" || !reflect.DeepEqual(m.Info.Files, want) {
		t.Errorf("info = %+v", m.Info)
	}
	if m.CreatedBy != "me" || m.Announce != "" || m.AnnounceList != nil || !m.CreationDate.IsZero() || m.Info.Private {
		t.Errorf("metainfo = %+v", m)
	}
	checkPieces(t, m, data)
	roundTrip(t, m)
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, setup func(p string) error) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := setup(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	symlinked := mk("symlinked", func(p string) error {
		if err := os.WriteFile(filepath.Join(p, "a"), []byte("x"), 0o644); err != nil {
			return err
		}
		return os.Symlink("a", filepath.Join(p, "b"))
	})
	empty := mk("empty", func(p string) error { return os.MkdirAll(filepath.Join(p, "sub"), 0o755) })
	zeros := mk("zeros", func(p string) error { return os.WriteFile(filepath.Join(p, "z"), nil, 0o644) })
	backslash := mk("backslash", func(p string) error { return os.WriteFile(filepath.Join(p, `a\b`), []byte("x"), 0o644) })
	link := filepath.Join(dir, "rootlink")
	if err := os.Symlink(symlinked, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, root string
		opts       BuildOptions
		want       string
	}{
		{"symlink inside", symlinked, BuildOptions{}, "symbolic links are not supported"},
		{"symlink root", link, BuildOptions{}, "symbolic links are not supported"},
		{"no files", empty, BuildOptions{}, "directory has no files"},
		{"only empty files", zeros, BuildOptions{}, "torrent has no data"},
		{"backslash in name", backslash, BuildOptions{}, "path component"},
		{"missing", filepath.Join(dir, "nope"), BuildOptions{}, "no such file"},
		{"negative piece length", symlinked + "/a", BuildOptions{PieceLength: -1}, "piece length -1 out of range"},
		{"piece length too big", symlinked + "/a", BuildOptions{PieceLength: 1<<30 + 1}, "piece length 1073741825 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(context.Background(), tt.root, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.root) {
				t.Errorf("error %q does not name the root %s", err, tt.root)
			}
		})
	}
}

func TestBuildCancel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	writeFile(t, p, make([]byte, 64*BlockSize))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Build(ctx, p, BuildOptions{PieceLength: BlockSize})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Build with cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestAutoPieceLength(t *testing.T) {
	for _, tt := range []struct {
		total, want int64
	}{
		{1, 16 << 10},
		{2000 * 16 << 10, 16 << 10},
		{2000*16<<10 + 1, 32 << 10},
		{4 << 30, 4 << 20},
		{1 << 40, 16 << 20},
	} {
		got := autoPieceLength(tt.total)
		if got != tt.want {
			t.Errorf("autoPieceLength(%d) = %d, want %d", tt.total, got, tt.want)
		}
		if n := (tt.total + got - 1) / got; got < 16<<20 && n > 2000 {
			t.Errorf("autoPieceLength(%d) gives %d pieces", tt.total, n)
		}
	}
}
