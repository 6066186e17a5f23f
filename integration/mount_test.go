package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// treeSizes has nested directories, a 0-byte and a 1-byte file, sizes that
// are not multiples of 16 KiB, and a file spanning many pieces.
var treeSizes = map[string]int{
	"a/b/c/deep.bin":   3<<20 + 12345,
	"empty.txt":        0,
	"one.byte":         1,
	"odd.bin":          100_001,
	"docs/readme.txt":  4321,
	"many/pieces.bin":  5<<20 + 7,
	"many/16k.bin":     16384,
	"many/16k+1.bin":   16385,
	"z last/space.txt": 999,
}

func TestMountStreamsFromThreeSeeders(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	src := writeTree(t, filepath.Join(data, "tree"), treeSizes)
	sw := newSwarm(t, data, filepath.Join(data, "tree"), 64, 3)
	m, mnt := mountTorrent(t, sw.torrent)
	root := filepath.Join(mnt, "tree")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("read in the middle first", func(t *testing.T) {
		f, err := os.Open(filepath.Join(root, "many/pieces.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 200_000)
		off := int64(2<<20 + 4097)
		n, err := f.ReadAt(buf, off)
		if err != nil || n != len(buf) {
			t.Fatalf("ReadAt: n=%d err=%v", n, err)
		}
		if !bytes.Equal(buf, src["many/pieces.bin"][off:off+int64(n)]) {
			t.Fatal("bytes read in the middle differ from the source")
		}
	})

	t.Run("every file byte-identical", func(t *testing.T) {
		for rel, want := range src {
			got, err := readCtx(ctx, filepath.Join(root, rel))
			if err != nil {
				t.Fatalf("%s: %v", rel, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes read differ from the %d-byte source", rel, len(got), len(want))
			}
		}
	})

	t.Run("sizes and modes", func(t *testing.T) {
		var dirs, files []string
		err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				dirs = append(dirs, rel)
				if st.Mode().Perm() != 0o555 {
					t.Errorf("dir %s: mode %v, want dr-xr-xr-x", rel, st.Mode())
				}
				return nil
			}
			files = append(files, rel)
			if st.Mode().Perm() != 0o444 || !st.Mode().IsRegular() {
				t.Errorf("file %s: mode %v, want -r--r--r--", rel, st.Mode())
			}
			if want, ok := src[rel]; !ok {
				t.Errorf("unexpected file %s", rel)
			} else if st.Size() != int64(len(want)) {
				t.Errorf("file %s: size %d, want %d", rel, st.Size(), len(want))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != len(src) {
			t.Errorf("found %d files, want %d: %v", len(files), len(src), files)
		}
		out, err := exec.Command("ls", "-lR", mnt).CombinedOutput()
		if err != nil {
			t.Fatalf("ls -lR: %v\n%s", err, out)
		}
		for _, name := range []string{"deep.bin", "empty.txt", "one.byte", "space.txt"} {
			if !strings.Contains(string(out), name) {
				t.Errorf("ls -lR does not list %s:\n%s", name, out)
			}
		}
		// Inode numbers are stable.
		a, _ := os.Stat(filepath.Join(root, "odd.bin"))
		b, _ := os.Stat(filepath.Join(root, "odd.bin"))
		if a.Sys().(*syscall.Stat_t).Ino != b.Sys().(*syscall.Stat_t).Ino {
			t.Error("inode number changed between two stats")
		}
	})

	t.Run("read-only", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(root, "new.txt"), []byte("x"), 0o644); err == nil {
			t.Fatal("creating a file on the mount succeeded")
		}
		if f, err := os.OpenFile(filepath.Join(root, "odd.bin"), os.O_WRONLY, 0); err == nil {
			f.Close()
			t.Fatal("opening a file for writing succeeded")
		}
	})

	t.Run("clean unmount on SIGINT", func(t *testing.T) {
		if !m.stop(syscall.SIGINT, 10*time.Second) {
			t.Fatal("btfs mount did not exit within 10 s of SIGINT")
		}
		if m.err != nil {
			t.Errorf("btfs mount exited with %v", m.err)
		}
		if mounted(t, mnt) {
			t.Fatal("mount point still mounted after btfs exited")
		}
		assertNoStrayProcesses(t, mnt)
	})
}

// assertNoStrayProcesses fails if any process still mentions dir on its
// command line (a leftover btfs or fusermount3).
func assertNoStrayProcesses(t *testing.T, dir string) {
	t.Helper()
	// A process exits moments after its mount is gone: wait, bounded.
	var stray []string
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		stray = stray[:0]
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil {
				continue
			}
			if strings.Contains(string(b), dir) {
				stray = append(stray, fmt.Sprintf("process %s still running: %q", e.Name(), strings.ReplaceAll(string(b), "\x00", " ")))
			}
		}
		if len(stray) == 0 || time.Since(start) > 10*time.Second {
			break
		}
	}
	for _, s := range stray {
		t.Error(s)
	}
}

func TestUnmountWhileReadBlocked(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	writeTree(t, filepath.Join(data, "lonely"), map[string]int{"f.bin": 1 << 20})
	// A swarm with no seeders: every read blocks.
	sw := newSwarm(t, data, filepath.Join(data, "lonely"), 64, 0)
	m, mnt := mountTorrent(t, sw.torrent)

	errC := make(chan error, 1)
	cat := exec.Command("cat", filepath.Join(mnt, "lonely", "f.bin"))
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { errC <- cat.Wait() }()
	select {
	case err := <-errC:
		t.Fatalf("cat finished (%v) although no peer has the data", err)
	case <-time.After(time.Second):
	}
	if !m.stop(syscall.SIGINT, 10*time.Second) {
		t.Fatal("btfs mount did not exit within 10 s of SIGINT while a read was blocked")
	}
	select {
	case err := <-errC:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("blocked cat ended with %v, want a failed read", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked read still hanging after unmount")
	}
	if mounted(t, mnt) {
		t.Fatal("still mounted")
	}
	assertNoStrayProcesses(t, mnt)
}

func TestInfoCommand(t *testing.T) {
	data := t.TempDir()
	writeTree(t, filepath.Join(data, "t"), map[string]int{"x/y.bin": 70000, "z.txt": 3})
	tf := filepath.Join(t.TempDir(), "t.torrent")
	if out, err := exec.Command(btfsBin, "create", "--tracker", "http://127.0.0.1:1/announce", "-o", tf, filepath.Join(data, "t")).CombinedOutput(); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	out, err := exec.Command(btfsBin, "info", tf).CombinedOutput()
	if err != nil {
		t.Fatalf("info: %v\n%s", err, out)
	}
	for _, want := range []string{"name:", "info-hash:", "http://127.0.0.1:1/announce", "y.bin", "z.txt", "70003 bytes"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("info output lacks %q:\n%s", want, out)
		}
	}

	bad := map[string][]byte{
		"garbage":   []byte("this is not bencode"),
		"truncated": []byte("d8:announce3:abc4:infod4:name1:x"),
		"empty":     nil,
	}
	names := make([]string, 0, len(bad))
	for n := range bad {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(t.TempDir(), n+".torrent")
		os.WriteFile(p, bad[n], 0o644)
		out, err := exec.Command(btfsBin, "info", p).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("%s: exit %v, want status 1", n, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 1 || strings.Contains(string(out), "panic") || strings.Contains(string(out), "goroutine") {
			t.Errorf("%s: want one error line, got:\n%s", n, out)
		}
	}
	out, _ = exec.Command(btfsBin, "info", "/nonexistent.torrent").CombinedOutput()
	if !strings.Contains(string(out), "nonexistent") {
		t.Errorf("missing file error does not name it: %s", out)
	}
}
