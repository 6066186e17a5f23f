package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cliStatus is the part of `btfs status --json` the tests look at.
type cliStatus struct {
	Mountpoint     string `json:"mountpoint"`
	Name           string `json:"name"`
	PID            int    `json:"pid"`
	PiecesVerified int    `json:"pieces_verified"`
	Pieces         int    `json:"pieces"`
	Downloaded     int64  `json:"downloaded"`
	Peers          int    `json:"peers"`
	MemoryCache    int64  `json:"memory_cache_bytes"`
	DiskCache      int64  `json:"disk_cache_bytes"`
	Files          []struct {
		Path          string `json:"path"`
		Size          int64  `json:"size"`
		BytesVerified int64  `json:"bytes_verified"`
	} `json:"files"`
	PeerList []struct {
		Addr      string `json:"addr"`
		Connected bool   `json:"connected"`
		Way       string `json:"way"`
		Attempts  []struct {
			Way   string `json:"way"`
			Error string `json:"error"`
		} `json:"attempts"`
	} `json:"peer_list"`
	Library []struct {
		Name     string `json:"name"`
		File     string `json:"file"`
		InfoHash string `json:"info_hash"`
		Pieces   int    `json:"pieces"`
	} `json:"library"`
}

// runBtfs runs one short-lived btfs command and returns its stdout,
// stderr and exit code.
func runBtfs(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var so, se bytes.Buffer
	cmd := exec.CommandContext(ctx, btfsBin, offline(args)...)
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("btfs %v: %v", args, err)
	}
	return so.String(), se.String(), code
}

// daemonMount runs `btfs mount` without -f and registers cleanup of the
// mount and its background process.
func daemonMount(t *testing.T, torrent, dir string, extra ...string) (string, string, int) {
	t.Helper()
	args := append([]string{"mount", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info",
		"--cache-dir", filepath.Join(t.TempDir(), "cache")}, extra...)
	args = append(args, torrent, dir)
	// A mount that was there before (the busy case) belongs to its owner.
	if _, err := os.Stat(dir); err != nil || !mounted(t, dir) {
		t.Cleanup(func() {
			if mounted(t, dir) {
				_ = exec.Command("fusermount3", "-u", "-z", dir).Run()
			}
		})
	}
	return runBtfs(t, args...)
}

func statusJSON(t *testing.T, args ...string) []cliStatus {
	t.Helper()
	out, errOut, code := runBtfs(t, append([]string{"status", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("btfs status --json: exit %d: %s", code, errOut)
	}
	var st []cliStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("btfs status --json: %v\n%s", err, out)
	}
	return st
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestCLIDaemonStatusUnmount mounts in the background, watches progress
// grow through `btfs status --json` during a rate-limited read, and
// unmounts with `btfs unmount`.
func TestCLIDaemonStatusUnmount(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	const size = 12 << 20
	c := writeTree(t, filepath.Join(data, "slow"), map[string]int{"big.bin": size, "small.txt": 5000})
	sw := newSwarm(t, data, filepath.Join(data, "slow"), 64, 0)
	seed := start(t, "slow-seeder", "seed", "--bind", "127.0.0.1", "--port", "0", "--max-upload-rate", "3000", sw.torrent, data)
	port := seed.waitLine(`^seeding .* on port (\d+)`, 30*time.Second)[1]

	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, errOut, code := daemonMount(t, sw.torrent, dir, "--peer", "127.0.0.1:"+port, "--prefetch", "none")
	if code != 0 || !strings.HasPrefix(out, "mounted slow at "+dir) {
		t.Fatalf("btfs mount: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Logf("btfs mount returned after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	if !mounted(t, dir) {
		t.Fatal("btfs mount returned but the mount is not live")
	}

	st := statusJSON(t, dir)
	if len(st) != 1 || st[0].Mountpoint != dir || st[0].Name != "slow" || st[0].PID <= 0 {
		t.Fatalf("status: %+v", st)
	}
	pid := st[0].PID
	if !alive(pid) {
		t.Fatalf("mount process %d is not running", pid)
	}
	// Without an argument, status finds the mount in the mount table.
	found := false
	for _, s := range statusJSON(t) {
		found = found || s.Mountpoint == dir
	}
	if !found {
		t.Fatal("btfs status (no argument) did not list the mount")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type res struct {
		b   []byte
		err error
	}
	readC := make(chan res, 1)
	go func() {
		b, err := readCtx(ctx, filepath.Join(dir, "slow", "big.bin"))
		readC <- res{b, err}
	}()
	time.Sleep(1200 * time.Millisecond)
	s1 := statusJSON(t, dir)[0]
	time.Sleep(1200 * time.Millisecond)
	s2 := statusJSON(t, dir)[0]
	t.Logf("status samples: %d/%d pieces, %d bytes down; then %d/%d pieces, %d bytes down",
		s1.PiecesVerified, s1.Pieces, s1.Downloaded, s2.PiecesVerified, s2.Pieces, s2.Downloaded)
	if s2.PiecesVerified <= s1.PiecesVerified || s2.Downloaded <= s1.Downloaded {
		t.Errorf("progress did not grow during the read: %+v then %+v", s1, s2)
	}
	if s2.PiecesVerified >= s2.Pieces {
		t.Errorf("read finished before the second sample; the rate limit did not hold")
	}
	if s2.MemoryCache <= 0 || s2.DiskCache <= 0 {
		t.Errorf("status reports no cache use (memory %d, disk %d) while data is held", s2.MemoryCache, s2.DiskCache)
	}
	var f1, f2 int64
	for i := range s2.Files {
		if s2.Files[i].Path == "big.bin" {
			f1, f2 = s1.Files[i].BytesVerified, s2.Files[i].BytesVerified
		}
	}
	if f2 <= f1 {
		t.Errorf("big.bin bytes_verified did not grow: %d then %d", f1, f2)
	}
	r := <-readC
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !bytes.Equal(r.b, c["big.bin"]) {
		t.Fatal("big.bin read through the mount differs from the source")
	}

	out, errOut, code = runBtfs(t, "unmount", dir)
	if code != 0 {
		t.Fatalf("btfs unmount: exit %d: %s%s", code, out, errOut)
	}
	if mounted(t, dir) {
		t.Fatal("still mounted after btfs unmount")
	}
	if alive(pid) {
		t.Fatalf("mount process %d still running after btfs unmount returned", pid)
	}
	for _, s := range statusJSON(t) {
		if s.Mountpoint == dir {
			t.Fatal("btfs status still lists the unmounted mount")
		}
	}
	assertNoStrayProcesses(t, dir)
}

// TestCLIErrors checks that each documented failure prints exactly one
// line on stderr, exits non-zero and leaves nothing mounted or running.
func TestCLIErrors(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	writeTree(t, filepath.Join(data, "e"), map[string]int{"x.bin": 100000})
	sw := newSwarm(t, data, filepath.Join(data, "e"), 16, 1)
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.torrent")
	if err := os.WriteFile(bad, []byte("this is not bencode"), 0o644); err != nil {
		t.Fatal(err)
	}
	newDir := func() string {
		d, err := os.MkdirTemp(tmp, "mnt")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	// A live mount for the "busy" case.
	busy := newDir()
	if out, errOut, code := daemonMount(t, sw.torrent, busy); code != 0 {
		t.Fatalf("btfs mount: exit %d: %s%s", code, out, errOut)
	}
	busyPID := statusJSON(t, busy)[0].PID

	notMounted := newDir()
	cases := []struct {
		name string
		args func() (dir string, args []string)
		want string
	}{
		{"missing torrent", func() (string, []string) {
			d := newDir()
			return d, []string{filepath.Join(tmp, "nope.torrent"), d}
		}, "no such file"},
		{"bad torrent", func() (string, []string) { d := newDir(); return d, []string{bad, d} }, "bad.torrent"},
		// As root a chmod 000 file stays readable, so unreadability is
		// exercised with a torrent path that runs through a file (a
		// directory is a library mount).
		{"unreadable torrent (below a file)", func() (string, []string) {
			d := newDir()
			return d, []string{filepath.Join(bad, "x.torrent"), d}
		}, "not a directory"},
		{"missing mountpoint", func() (string, []string) {
			d := filepath.Join(tmp, "missing")
			return d, []string{sw.torrent, d}
		}, "no such file"},
		{"mountpoint busy", func() (string, []string) { return busy, []string{sw.torrent, busy} }, "busy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, args := tc.args()
			out, errOut, code := daemonMount(t, args[0], args[1])
			checkOneLineError(t, "btfs mount", out, errOut, code, tc.want)
			if dir == busy {
				if n := countMounts(t, dir); n != 1 {
					t.Errorf("%s is mounted %d times, want 1", dir, n)
				}
				if !alive(busyPID) {
					t.Error("the original mount's process died")
				}
				return
			}
			if mounted(t, dir) {
				t.Errorf("%s is mounted after a failed btfs mount", dir)
			}
			assertNoStrayProcesses(t, dir)
		})
	}
	t.Run("unmount not a btfs mount", func(t *testing.T) {
		out, errOut, code := runBtfs(t, "unmount", notMounted)
		checkOneLineError(t, "btfs unmount", out, errOut, code, "not a btfs mount")
	})
	t.Run("status not a btfs mount", func(t *testing.T) {
		out, errOut, code := runBtfs(t, "status", notMounted)
		checkOneLineError(t, "btfs status", out, errOut, code, "not a btfs mount")
	})
	if _, errOut, code := runBtfs(t, "unmount", busy); code != 0 {
		t.Fatalf("btfs unmount: %s", errOut)
	}
	if mounted(t, busy) || alive(busyPID) {
		t.Fatal("busy mount left behind after btfs unmount")
	}
}

func checkOneLineError(t *testing.T, what, out, errOut string, code int, want string) {
	t.Helper()
	if code == 0 {
		t.Fatalf("%s succeeded: %q", what, out)
	}
	lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		t.Errorf("%s: want exactly one line on stderr, got %d: %q", what, len(lines), errOut)
	}
	if !strings.Contains(errOut, want) {
		t.Errorf("%s: stderr %q does not mention %q", what, errOut, want)
	}
	t.Logf("%s: exit %d: %s", what, code, strings.TrimSpace(errOut))
}

func countMounts(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			n++
		}
	}
	return n
}
