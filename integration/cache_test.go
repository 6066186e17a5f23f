package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// infoHash returns a torrent's info-hash as printed by `btfs info`.
func infoHash(t *testing.T, torrent string) string {
	t.Helper()
	out, err := exec.Command(btfsBin, "info", torrent).CombinedOutput()
	if err != nil {
		t.Fatalf("btfs info: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`info-hash:\s+([0-9a-f]{40})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no info-hash in:\n%s", out)
	}
	return string(m[1])
}

// readTree reads every file of src through the mount and compares.
func readTree(t *testing.T, root string, src content) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for rel, want := range src {
		got, err := readCtx(ctx, filepath.Join(root, rel))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes read differ from the %d-byte source", rel, len(got), len(want))
		}
	}
}

// unmount stops a mount process with SIGINT and returns the bytes it
// downloaded (from its exit line).
func unmount(t *testing.T, m *proc) int64 {
	t.Helper()
	if !m.stop(syscall.SIGINT, 10*time.Second) {
		t.Fatal("mount did not exit after SIGINT")
	}
	mm := regexp.MustCompile(`downloaded (\d+) bytes`).FindStringSubmatch(m.output())
	if mm == nil {
		t.Fatalf("no exit line in mount output:\n%s", m.output())
	}
	n, _ := strconv.ParseInt(mm[1], 10, 64)
	return n
}

func TestRemountServesFromDiskWithoutSeeders(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	src := writeTree(t, filepath.Join(data, "c"), map[string]int{"a/x.bin": 3<<20 + 5, "y.bin": 700_001})
	sw := newSwarm(t, data, filepath.Join(data, "c"), 64, 2)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	m, mnt := mountTorrent(t, sw.torrent, "--cache-dir", cacheDir)
	readTree(t, filepath.Join(mnt, "c"), src)
	if n := unmount(t, m); n == 0 {
		t.Fatal("first mount downloaded nothing")
	}
	for _, s := range sw.seeders {
		s.stop(syscall.SIGTERM, 5*time.Second)
	}
	m2, mnt2 := mountTorrent(t, sw.torrent, "--cache-dir", cacheDir)
	readTree(t, filepath.Join(mnt2, "c"), src)
	if n := unmount(t, m2); n != 0 {
		t.Fatalf("second mount downloaded %d bytes with every seeder gone", n)
	}
}

func TestCorruptCachedPieceIsRefetched(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	src := writeTree(t, filepath.Join(data, "c"), map[string]int{"f.bin": 2 << 20})
	sw := newSwarm(t, data, filepath.Join(data, "c"), 64, 1)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	m, mnt := mountTorrent(t, sw.torrent, "--cache-dir", cacheDir)
	readTree(t, filepath.Join(mnt, "c"), src)
	unmount(t, m)
	// Flip bytes inside piece 5 of the cached data.
	p := filepath.Join(cacheDir, infoHash(t, sw.torrent), "data")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 100)
	f.ReadAt(b, 5*64*1024+1000)
	for i := range b {
		b[i] ^= 0xff
	}
	f.WriteAt(b, 5*64*1024+1000)
	f.Close()
	m2, mnt2 := mountTorrent(t, sw.torrent, "--cache-dir", cacheDir)
	readTree(t, filepath.Join(mnt2, "c"), src)
	n := unmount(t, m2)
	if n != 64*1024 {
		t.Fatalf("remount downloaded %d bytes, want exactly the one corrupt 64 KiB piece", n)
	}
}

func TestKill9ThenRemount(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	const size = 12 << 20
	src := writeTree(t, filepath.Join(data, "c"), map[string]int{"big.bin": size})
	sw := newSwarm(t, data, filepath.Join(data, "c"), 64, 0)
	// A slow seeder, so the kill lands mid-download.
	slow := start(t, "slow-seeder", "seed", "--bind", "127.0.0.1", "--port", "0", "--max-upload-rate", "3000", sw.torrent, data)
	slow.waitLine(`^seeding`, 30*time.Second)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	m, mnt := mountTorrent(t, sw.torrent, "--cache-dir", cacheDir, "--prefetch", "all")
	go func() { _, _ = os.ReadFile(filepath.Join(mnt, "c", "big.bin")) }()
	time.Sleep(2 * time.Second) // ~6 MB at 3 MB/s: about half, and commits have run
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	_ = exec.Command("fusermount3", "-u", "-z", mnt).Run()

	// What the dead mount left on disk, as the cache reports it.
	out, err := exec.Command(btfsBin, "cache", "--cache-dir", cacheDir).CombinedOutput()
	if err != nil {
		t.Fatalf("btfs cache: %v\n%s", err, out)
	}
	mm := regexp.MustCompile(`(\d+)/(\d+)`).FindSubmatch(out)
	if mm == nil {
		t.Fatalf("no piece count in:\n%s", out)
	}
	held, _ := strconv.Atoi(string(mm[1]))
	total, _ := strconv.Atoi(string(mm[2]))
	if held == 0 || held == total {
		t.Fatalf("cache holds %d/%d pieces after the kill: the test did not kill mid-download", held, total)
	}
	t.Logf("after kill -9 the cache holds %d/%d pieces", held, total)

	fast := start(t, "seeder", "seed", "--bind", "127.0.0.1", "--port", "0", sw.torrent, data)
	fast.waitLine(`^seeding`, 30*time.Second)
	m2, mnt2 := mountTorrent(t, sw.torrent, "--cache-dir", cacheDir)
	readTree(t, filepath.Join(mnt2, "c"), src) // nothing marked verified is wrong
	n := unmount(t, m2)
	if want := int64(total-held) * 64 * 1024; n > want {
		t.Fatalf("remount downloaded %d bytes, but only %d were missing: cached pieces were fetched again", n, want)
	}
}

func TestTinyCacheDirFillsUp(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIPPING: cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	data := t.TempDir()
	src := writeTree(t, filepath.Join(data, "c"), map[string]int{"f.bin": 6 << 20})
	sw := newSwarm(t, data, filepath.Join(data, "c"), 64, 2)
	m, mnt := mountTorrent(t, sw.torrent, "--cache-dir", filepath.Join(dir, "cache"))
	readTree(t, filepath.Join(mnt, "c"), src)
	readTree(t, filepath.Join(mnt, "c"), src)
	unmount(t, m)
	out := m.output()
	if n := strings.Count(out, "filesystem full"); n != 1 {
		t.Fatalf("want exactly one disk-full warning, got %d:\n%s", n, out)
	}
}

func TestCacheSizeBudgetHolds(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	src := writeTree(t, filepath.Join(data, "c"), map[string]int{"f.bin": 16 << 20})
	sw := newSwarm(t, data, filepath.Join(data, "c"), 64, 2)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	const budget = 2 << 20
	m, mnt := mountTorrent(t, sw.torrent, "--cache-dir", cacheDir, "--cache-size", "2M", "--memory-cache", "4M")
	dataFile := filepath.Join(cacheDir, infoHash(t, sw.torrent), "data")
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var st syscall.Stat_t
			if syscall.Stat(dataFile, &st) == nil && st.Blocks*512 > peak.Load() {
				peak.Store(st.Blocks * 512)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	readTree(t, filepath.Join(mnt, "c"), src)
	close(stop)
	<-done
	unmount(t, m)
	if p := peak.Load(); p > budget+64*1024 || p == 0 {
		t.Fatalf("disk use peaked at %d bytes for a %d-byte budget", p, budget)
	}
	t.Logf("disk use peaked at %d bytes (budget %d)", peak.Load(), budget)
}
