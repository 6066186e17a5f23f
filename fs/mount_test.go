package fs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMountTree(t *testing.T) {
	info, data := tree()
	ft := &fakeTorrent{data: data, maxChunk: 16 << 10}
	mtime := time.Unix(1_700_000_000, 0)
	dir, _ := mountFS(t, New(info, ft, Options{Uid: 1234, Gid: 5678, MTime: mtime}))
	top := filepath.Join(dir, treeName)

	t.Run("content", func(t *testing.T) {
		for _, f := range info.Files {
			p := filepath.Join(append([]string{top}, f.Path...)...)
			got, err := os.ReadFile(p)
			if f.Padding {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("padding file %s: err = %v, want not exist", p, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, fileData(data, f)) {
				t.Errorf("%s: content differs (%d bytes, want %d)", p, len(got), f.Length)
			}
		}
	})

	t.Run("listing", func(t *testing.T) {
		want := map[string]int64{ // path below top -> size, -1 for dirs
			"a.txt": 1000, "empty": 0, "one": 1, "dir with space": -1, "z": -1,
			"dir with space/ünïcødé 文件.bin": 70_000, "dir with space/sub": -1,
			"dir with space/sub/deep.dat": 300_001, "z/last": 5,
		}
		inodes := make(map[uint64]string)
		err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(top, p)
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			st := fi.Sys().(*syscall.Stat_t)
			if other, dup := inodes[st.Ino]; dup {
				t.Errorf("inode %d of %q already used by %q", st.Ino, rel, other)
			}
			inodes[st.Ino] = rel
			if st.Uid != 1234 || st.Gid != 5678 || !fi.ModTime().Equal(mtime) {
				t.Errorf("%q: uid %d gid %d mtime %v", rel, st.Uid, st.Gid, fi.ModTime())
			}
			if rel == "." {
				return nil
			}
			size, ok := want[rel]
			delete(want, rel)
			switch {
			case !ok:
				t.Errorf("unexpected entry %q", rel)
			case size < 0:
				if !d.IsDir() || fi.Mode() != fs.ModeDir|0o555 {
					t.Errorf("%q: type %v mode %v, want dir 0555", rel, d.Type(), fi.Mode())
				}
			default:
				if !d.Type().IsRegular() || fi.Mode() != 0o444 || fi.Size() != size {
					t.Errorf("%q: type %v mode %v size %d, want file 0444 %d", rel, d.Type(), fi.Mode(), fi.Size(), size)
				}
				if wantBlocks := (size + 511) / 512; st.Blocks != wantBlocks {
					t.Errorf("%q: %d blocks, want %d", rel, st.Blocks, wantBlocks)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for rel := range want {
			t.Errorf("missing %q", rel)
		}
		root, err := os.ReadDir(dir)
		if err != nil || len(root) != 1 || root[0].Name() != treeName {
			t.Errorf("mount root = %v, %v; want just %q", root, err, treeName)
		}
	})

	t.Run("stable inodes", func(t *testing.T) {
		p := filepath.Join(top, "dir with space", "sub", "deep.dat")
		a, err1 := os.Stat(p)
		b, err2 := os.Stat(p)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if ia, ib := a.Sys().(*syscall.Stat_t).Ino, b.Sys().(*syscall.Stat_t).Ino; ia != ib || ia == 0 {
			t.Errorf("inodes %d, %d", ia, ib)
		}
	})

	t.Run("read at offset", func(t *testing.T) {
		f := info.Files[5] // deep.dat
		h, err := os.Open(filepath.Join(top, "dir with space", "sub", "deep.dat"))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		want := fileData(data, f)
		for _, r := range [][2]int64{{150_000, 777}, {299_990, 11}, {1, 70_000}} {
			buf := make([]byte, r[1])
			if _, err := h.ReadAt(buf, r[0]); err != nil {
				t.Fatalf("ReadAt(%d, %d): %v", r[1], r[0], err)
			}
			if !bytes.Equal(buf, want[r[0]:r[0]+r[1]]) {
				t.Errorf("ReadAt(%d, %d): content differs", r[1], r[0])
			}
		}
		buf := make([]byte, 10)
		if n, err := h.ReadAt(buf, 299_995); n != 6 || !bytes.Equal(buf[:n], want[299_995:]) {
			t.Errorf("ReadAt across EOF: %d, %v", n, err)
		}
		if n, _ := h.ReadAt(buf, 400_000); n != 0 {
			t.Errorf("ReadAt beyond EOF: %d bytes", n)
		}
	})

	t.Run("read-only", func(t *testing.T) {
		readOnly := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EACCES) {
				t.Errorf("%s: err = %v, want EROFS or EACCES", what, err)
			}
		}
		readOnly("write", os.WriteFile(filepath.Join(top, "a.txt"), []byte("x"), 0o644))
		_, err := os.OpenFile(filepath.Join(top, "a.txt"), os.O_RDWR, 0)
		readOnly("open rw", err)
		_, err = os.Create(filepath.Join(top, "new"))
		readOnly("create", err)
		readOnly("mkdir", os.Mkdir(filepath.Join(top, "newdir"), 0o755))
		readOnly("remove", os.Remove(filepath.Join(top, "one")))
		readOnly("rename", os.Rename(filepath.Join(top, "one"), filepath.Join(top, "two")))
		readOnly("chmod", os.Chmod(filepath.Join(top, "one"), 0o777))
		readOnly("truncate", os.Truncate(filepath.Join(top, "a.txt"), 0))
		readOnly("symlink", os.Symlink("a.txt", filepath.Join(top, "link")))
	})

	t.Run("statfs", func(t *testing.T) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		if want := uint64((info.Length + 4095) / 4096); st.Blocks != want || st.Bsize != 4096 {
			t.Errorf("blocks %d of %d, want %d of 4096", st.Blocks, st.Bsize, want)
		}
		if st.Bfree != 0 || st.Bavail != 0 || st.Flags&1 == 0 { // ST_RDONLY
			t.Errorf("bfree %d bavail %d flags %#x: want full and read-only", st.Bfree, st.Bavail, st.Flags)
		}
	})
}

func TestMountSingleFile(t *testing.T) {
	info, data := build("movie.mkv", false, spec{path: "movie.mkv", length: 1 << 20})
	dir, _ := mountFS(t, New(info, &fakeTorrent{data: data}, Options{}))
	got, err := os.ReadFile(filepath.Join(dir, "movie.mkv"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFile: %d bytes, %v", len(got), err)
	}
}

func TestOneReaderPerHandle(t *testing.T) {
	info, data := build("big", false, spec{path: "big", length: 8 << 20})
	ft := &fakeTorrent{data: data, maxChunk: 32 << 10}
	dir, _ := mountFS(t, New(info, ft, Options{}))
	h, err := os.Open(filepath.Join(dir, "big"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for range 8 {
		if _, err := h.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if n := ft.opened.Load(); n != 1 {
		t.Errorf("%d readers for one handle", n)
	}
	h.Close()
	waitFor(t, "reader closed on release", func() bool { return ft.closed.Load() == 1 })
}

func TestEngineClosedIsEIO(t *testing.T) {
	info, data := build("f", false, spec{path: "f", length: 100})
	ft := &fakeTorrent{data: data, err: fmt.Errorf("torrent %x: %w", 1, os.ErrClosed)}
	dir, _ := mountFS(t, New(info, ft, Options{}))
	_, err := os.ReadFile(filepath.Join(dir, "f"))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("read: err = %v, want EIO", err)
	}
}

func TestUnmountFromOutside(t *testing.T) {
	info, data := build("f", false, spec{path: "f", length: 100})
	dir, stop := mountFS(t, New(info, &fakeTorrent{data: data}, Options{}))
	if out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u: %v: %s", err, out)
	}
	start := time.Now()
	if err := stop(); err != nil || time.Since(start) > 2*time.Second {
		t.Fatalf("Mount returned %v after %v", err, time.Since(start))
	}
}

// TestCancelBlockedRead checks that cancelling Mount's context ends a
// read that the engine would never answer.
func TestCancelBlockedRead(t *testing.T) {
	for _, keepOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepOpen=%v", keepOpen), func(t *testing.T) {
			info, data := build("f", false, spec{path: "f", length: 1 << 20})
			ft := &fakeTorrent{data: data, block: true, blocked: make(chan struct{}, 1)}
			dir, stop := mountFS(t, New(info, ft, Options{}))
			h, err := os.Open(filepath.Join(dir, "f"))
			if err != nil {
				t.Fatal(err)
			}
			readErr := make(chan error, 1)
			go func() {
				_, err := h.ReadAt(make([]byte, 4096), 1000)
				if !keepOpen {
					h.Close()
				}
				readErr <- err
			}()
			select {
			case <-ft.blocked:
			case <-time.After(5 * time.Second):
				t.Fatal("read did not reach the engine")
			}

			stopped := make(chan error, 1)
			go func() { stopped <- stop() }()
			select {
			case err := <-readErr:
				if !errors.Is(err, syscall.EIO) && !errors.Is(err, syscall.EINTR) {
					t.Errorf("blocked read: err = %v, want EIO or EINTR", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("blocked read still hangs")
			}
			if keepOpen {
				// Mount has to unmount lazily: the mount disappears while
				// the file is open, serving ends when it is closed.
				waitFor(t, "lazy unmount", func() bool { return !isMounted(dir) })
				h.Close()
			}
			select {
			case err := <-stopped:
				if err != nil {
					t.Errorf("Mount: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Mount did not return")
			}
			if isMounted(dir) {
				t.Errorf("%s still in /proc/self/mountinfo", dir)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	const size, chunk = 256 << 20, 1 << 20
	info, data := build("big", false, spec{path: "big", length: size})
	dir, _ := mountFS(b, New(info, &fakeTorrent{data: data}, Options{}))
	h, err := os.Open(filepath.Join(dir, "big"))
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	buf := make([]byte, chunk)
	var off int64
	b.SetBytes(chunk)
	b.ResetTimer()
	for b.Loop() {
		if off == size {
			// Drop the page cache so every pass goes through the adapter.
			b.StopTimer()
			if err := dropCache(h); err != nil {
				b.Fatal(err)
			}
			off = 0
			b.StartTimer()
		}
		n, err := h.ReadAt(buf, off)
		if err != nil || n != chunk {
			b.Fatalf("ReadAt(%d): %d, %v", off, n, err)
		}
		off += chunk
	}
}

// dropCache asks the kernel to forget the cached pages of h.
func dropCache(h *os.File) error {
	const fadvDontNeed = 4
	_, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, h.Fd(), 0, 0, fadvDontNeed, 0, 0)
	if e != 0 {
		return fmt.Errorf("fadvise: %w", e)
	}
	return nil
}

func TestMountRaisesKernelReadahead(t *testing.T) {
	info, data := build("f", false, spec{path: "f", length: 1000})
	dir, _ := mountFS(t, New(info, &fakeTorrent{data: data}, Options{}))
	dev, ok := mountDevice(dir)
	if !ok {
		t.Fatal("mount not found in mountinfo")
	}
	b, err := os.ReadFile(filepath.Join("/sys/class/bdi", dev, "read_ahead_kb"))
	if err != nil {
		t.Skipf("SKIPPING: no sysfs bdi for the mount here: %v", err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(defaultReadaheadKB) {
		t.Fatalf("read_ahead_kb = %s, want %d", got, defaultReadaheadKB)
	}
}
