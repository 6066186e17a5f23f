package fs

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestLibraryAddsAndRemoves: a library mount shows a single-file torrent
// as its file and a multi-file torrent as its directory, names a clash
// with the info-hash, reads each byte-identical, keeps inode numbers
// apart, and a torrent removed while mounted disappears.
func TestLibraryAddsAndRemoves(t *testing.T) {
	fsys, lib := NewLibrary(Options{})
	dir, _ := mountFS(t, fsys)
	if names := readNames(t, dir); len(names) != 0 {
		t.Fatalf("empty library lists %v", names)
	}
	single, sdata := build("movie.mkv", false, spec{path: "movie.mkv", length: 300_000})
	multi, mdata := tree()
	other, odata := build("movie.mkv", false, spec{path: "movie.mkv", length: 1000}) // same name
	if n := lib.Add("a.torrent", [20]byte{0xaa}, single, &fakeTorrent{data: sdata}); n != "movie.mkv" {
		t.Fatalf("single-file torrent shown as %q", n)
	}
	if n := lib.Add("b.torrent", [20]byte{0xbb}, multi, &fakeTorrent{data: mdata}); n != treeName {
		t.Fatalf("multi-file torrent shown as %q", n)
	}
	clash := lib.Add("c.torrent", [20]byte{0xcc, 1, 2, 3, 4}, other, &fakeTorrent{data: odata})
	if clash != "movie.mkv [cc010203]" {
		t.Fatalf("clashing torrent shown as %q", clash)
	}
	waitFor(t, "three entries", func() bool { return len(readNames(t, dir)) == 3 })
	if got, err := os.ReadFile(filepath.Join(dir, "movie.mkv")); err != nil || !bytes.Equal(got, sdata) {
		t.Fatalf("single-file read: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, clash)); err != nil || !bytes.Equal(got, odata) {
		t.Fatalf("clashing torrent read: %v", err)
	}
	f := multi.Files[0]
	if got, err := os.ReadFile(filepath.Join(append([]string{dir, treeName}, f.Path...)...)); err != nil || !bytes.Equal(got, fileData(mdata, f)) {
		t.Fatalf("multi-file read: %v", err)
	}
	var inodes []uint64
	for _, n := range []string{"movie.mkv", clash, treeName} {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		inodes = append(inodes, st.Sys().(*syscall.Stat_t).Ino)
	}
	slices.Sort(inodes)
	if len(slices.Compact(inodes)) != 3 {
		t.Fatalf("torrents share inode numbers: %v", inodes)
	}

	lib.Remove("a.torrent")
	waitFor(t, "the removed torrent to disappear", func() bool {
		_, err := os.Stat(filepath.Join(dir, "movie.mkv"))
		return os.IsNotExist(err)
	})
	if names := readNames(t, dir); !slices.Equal(names, []string{treeName, clash}) {
		t.Fatalf("after removal: %v", names)
	}
}

func readNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}
