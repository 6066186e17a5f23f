package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTwoMountsOneProcess: two torrents mounted in the background with one
// cache directory are served by one btfs process (one PID in status); both
// are kept on disk, `btfs cache` lists both while mounted; after both are
// unmounted the process is gone, and with every seeder stopped both
// remount and read byte-identical from the disk cache alone.
func TestTwoMountsOneProcess(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	srcA := writeTree(t, filepath.Join(data, "alpha"), map[string]int{"a.bin": 500_000, "x/y.txt": 3000})
	srcB := writeTree(t, filepath.Join(data, "beta"), map[string]int{"b.bin": 300_000})
	tfA := makeTorrent(t, filepath.Join(data, "alpha"), 64)
	tfB := makeTorrent(t, filepath.Join(data, "beta"), 64)
	sa, pa := seed(t, tfA, data)
	sb, pb := seed(t, tfB, data)
	cache := filepath.Join(t.TempDir(), "cache")
	mntA, mntB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	mount := func(tf, mnt string, extra ...string) {
		t.Helper()
		mustDaemonMount(t, tf, mnt, append([]string{"--cache-dir", cache}, extra...)...)
	}
	mount(tfA, mntA, "--peer", "127.0.0.1:"+pa)
	mount(tfB, mntB, "--peer", "127.0.0.1:"+pb)
	readTree(t, filepath.Join(mntA, "alpha"), srcA)
	readTree(t, filepath.Join(mntB, "beta"), srcB)

	st := statusJSON(t)
	pids := map[string]int{}
	for _, m := range st {
		pids[m.Mountpoint] = m.PID
	}
	if pids[mntA] == 0 || pids[mntA] != pids[mntB] {
		t.Fatalf("mounts served by processes %v, want one process for both", pids)
	}
	pid := pids[mntA]
	var out string
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) { // commits every 200 ms
		out, _, _ = runBtfs(t, "cache", "--cache-dir", cache)
		if strings.Contains(out, "alpha") && strings.Contains(out, "beta") && strings.Contains(out, "8/8") && strings.Contains(out, "5/5") {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("btfs cache while both are mounted:\n%s", out)
		}
	}
	// A third torrent, mounted, read and unmounted: cached, not open.
	srcC := writeTree(t, filepath.Join(data, "gamma"), map[string]int{"c.bin": 70_000})
	tfC := makeTorrent(t, filepath.Join(data, "gamma"), 64)
	_, pc := seed(t, tfC, data)
	mntC := filepath.Join(t.TempDir(), "c")
	mount(tfC, mntC, "--peer", "127.0.0.1:"+pc)
	readTree(t, filepath.Join(mntC, "gamma"), srcC)
	if out, errOut, code := runBtfs(t, "unmount", mntC); code != 0 {
		t.Fatalf("btfs unmount %s: exit %d: %s%s", mntC, code, out, errOut)
	}
	if !alive(pid) {
		t.Fatal("the btfs process exited while two mounts remain")
	}
	if out, _, _ = runBtfs(t, "cache", "--cache-dir", cache); !strings.Contains(out, "gamma") {
		t.Fatalf("gamma not in the cache after it was read and unmounted:\n%s", out)
	}
	// Clearing through the process drops what is not mounted and keeps
	// what is.
	if out, errOut, code := runBtfs(t, "cache", "clear", "--all", "--cache-dir", cache); code != 0 {
		t.Fatalf("btfs cache clear --all while mounted: exit %d: %s%s", code, out, errOut)
	}
	out, _, _ = runBtfs(t, "cache", "--cache-dir", cache)
	if !strings.Contains(out, "alpha") || !strings.Contains(out, "beta") || strings.Contains(out, "gamma") {
		t.Fatalf("after clear --all, want alpha and beta (mounted) kept and gamma gone:\n%s", out)
	}
	for _, mnt := range []string{mntA, mntB} {
		if out, errOut, code := runBtfs(t, "unmount", mnt); code != 0 {
			t.Fatalf("btfs unmount %s: exit %d: %s%s", mnt, code, out, errOut)
		}
	}
	for start := time.Now(); alive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the btfs process %d still runs after its last mount is gone", pid)
		}
	}
	stopSeeder(t, sa)
	stopSeeder(t, sb)
	mount(tfA, mntA)
	mount(tfB, mntB)
	readTree(t, filepath.Join(mntA, "alpha"), srcA)
	readTree(t, filepath.Join(mntB, "beta"), srcB)
}

// mustDaemonMount creates mnt and mounts tf on it in the background
// (daemonMount: cleanup included), failing the test if it does not work.
func mustDaemonMount(t *testing.T, tf, mnt string, extra ...string) {
	t.Helper()
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := daemonMount(t, tf, mnt, extra...); code != 0 {
		t.Fatalf("btfs mount %s: exit %d: %s%s", tf, code, out, errOut)
	}
}

// TestCrashLeavesNoWedgedMount: the user's btfs process is killed (-9)
// while it serves a mount; the mountpoint is left dead ("transport
// endpoint is not connected"); the next `btfs mount` on it cleans it up
// and mounts again, reading byte-identical.
func TestCrashLeavesNoWedgedMount(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	src := writeTree(t, filepath.Join(data, "crash"), map[string]int{"c.bin": 200_000})
	tf := makeTorrent(t, filepath.Join(data, "crash"), 64)
	_, port := seed(t, tf, data)
	cache := filepath.Join(t.TempDir(), "cache")
	mnt := filepath.Join(t.TempDir(), "m")
	flags := []string{"--cache-dir", cache, "--peer", "127.0.0.1:" + port}
	mustDaemonMount(t, tf, mnt, flags...)
	readTree(t, filepath.Join(mnt, "crash"), src)
	st := statusJSON(t, mnt)
	if err := syscall.Kill(st[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); alive(st[0].PID); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the killed process is still alive")
		}
	}
	if _, err := os.ReadDir(mnt); err == nil {
		t.Fatal("the mount of a killed process still answers")
	}
	mustDaemonMount(t, tf, mnt, flags...) // over the dead mount
	readTree(t, filepath.Join(mnt, "crash"), src)
	if out, errOut, code := runBtfs(t, "unmount", mnt); code != 0 {
		t.Fatalf("btfs unmount: exit %d: %s%s", code, out, errOut)
	}
}
