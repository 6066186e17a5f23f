package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestIOFS(t *testing.T) {
	info, data := tree()
	ft := &fakeTorrent{data: data, maxChunk: 4096}
	fsys := New(info, ft, Options{MTime: time.Unix(1_700_000_000, 0)})
	view := fsys.IOFS(context.Background())

	var want []string
	for _, f := range info.Files {
		if !f.Padding {
			want = append(want, treeName+"/"+strings.Join(f.Path, "/"))
		}
	}
	if err := fstest.TestFS(view, want...); err != nil {
		t.Fatal(err)
	}
	for _, f := range info.Files {
		name := treeName + "/" + strings.Join(f.Path, "/")
		got, err := iofs.ReadFile(view, name)
		if f.Padding {
			if !errors.Is(err, iofs.ErrNotExist) {
				t.Errorf("padding file %s: err = %v, want not exist", name, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(fileData(data, f)) {
			t.Errorf("%s: content differs", name)
		}
	}
	if n, c := ft.opened.Load(), ft.closed.Load(); n != c {
		t.Errorf("opened %d readers, closed %d", n, c)
	}
}

func TestIOFSSingleFile(t *testing.T) {
	info, data := build("movie.mkv", false, spec{path: "movie.mkv", length: 12345})
	view := New(info, &fakeTorrent{data: data}, Options{}).IOFS(context.Background())
	if err := fstest.TestFS(view, "movie.mkv"); err != nil {
		t.Fatal(err)
	}
	entries, err := iofs.ReadDir(view, ".")
	if err != nil || len(entries) != 1 || entries[0].Name() != "movie.mkv" || entries[0].IsDir() {
		t.Fatalf("root = %v, %v; want just movie.mkv", entries, err)
	}
}

func TestInodesDeterministic(t *testing.T) {
	info, data := tree()
	inodes := func() map[string]uint64 {
		fsys := New(info, &fakeTorrent{data: data}, Options{})
		m := make(map[string]uint64)
		var walk func(p string, d *dir)
		walk = func(p string, d *dir) {
			m[p] = d.inode
			for name, c := range d.children {
				if sub, ok := c.(*dir); ok {
					walk(p+"/"+name, sub)
				} else {
					m[p+"/"+name] = c.ino()
				}
			}
		}
		walk("", fsys.root)
		return m
	}
	a, b := inodes(), inodes()
	seen := make(map[uint64]string)
	for p, ino := range a {
		if b[p] != ino {
			t.Errorf("%q: inode %d then %d", p, ino, b[p])
		}
		if other, dup := seen[ino]; dup {
			t.Errorf("inode %d used by %q and %q", ino, p, other)
		}
		seen[ino] = p
	}
	if a[""] != 1 || a["/"+treeName] != 2 {
		t.Errorf("root inode %d, top dir %d; want 1, 2", a[""], a["/"+treeName])
	}
}
