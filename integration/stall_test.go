package integration

// Stalled reads (issue 14, item 3): reads of pieces nobody has are shown
// by `btfs status`, bounded by --read-timeout, released when interrupted,
// and do not keep an unmounted mount's process alive.

import (
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

// stallStatus is the part of `btfs status --json` these tests read.
type stallStatus struct {
	PID          int `json:"pid"`
	BlockedReads []struct {
		Path           string  `json:"path"`
		Offset         int64   `json:"offset"`
		Size           int     `json:"size"`
		WaitingSeconds float64 `json:"waiting_seconds"`
		Piece          int     `json:"piece"`
		PeersWithPiece int     `json:"peers_with_piece"`
	} `json:"blocked_reads"`
}

func stallStatusOf(t *testing.T, dir string) stallStatus {
	t.Helper()
	out, errOut, code := runBtfs(t, "status", "--json", dir)
	if code != 0 {
		t.Fatalf("btfs status --json: exit %d: %s", code, errOut)
	}
	var st []stallStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		t.Fatalf("btfs status --json: %v\n%s", err, out)
	}
	return st[0]
}

// waitStall polls the mount's status until cond holds (at most 10 s).
func waitStall(t *testing.T, dir, what string, cond func(stallStatus) bool) stallStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := stallStatusOf(t, dir)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; status: %+v", what, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unseeded is a 1 MiB single-file torrent in 64 KiB pieces with a tracker
// and no seeder: every read of it blocks.
func unseeded(t *testing.T) (torrent, rel string) {
	t.Helper()
	data := t.TempDir()
	writeTree(t, filepath.Join(data, "lonely"), map[string]int{"f.bin": 1 << 20})
	sw := newSwarm(t, data, filepath.Join(data, "lonely"), 64, 0)
	return sw.torrent, filepath.Join("lonely", "f.bin")
}

// interruptedCat runs `timeout -s INT 3 cat path`, which must fail: the
// data is nowhere.
func interruptedCat(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "timeout", "-s", "INT", "3", "cat", path).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("timeout -s INT 3 cat: err = %v (ctx %v), want a failed cat\n%s", err, ctx.Err(), out)
	}
}

// TestStallUnmountAfterInterruptedRead is the case of issue 14: after a
// read of a torrent nobody seeds is interrupted, the kernel's readahead
// requests it started are still waiting in the engine (nothing interrupts
// them); unmounting then ends the mount and its process all the same.
func TestStallUnmountAfterInterruptedRead(t *testing.T) {
	requireFUSE(t)
	torrent, rel := unseeded(t)

	// afterCat checks the precondition: reads are still blocked once cat
	// is gone.
	afterCat := func(t *testing.T, dir string) {
		t.Helper()
		interruptedCat(t, filepath.Join(dir, rel))
		st := waitStall(t, dir, "blocked readahead", func(st stallStatus) bool { return len(st.BlockedReads) > 0 })
		t.Logf("blocked after cat was interrupted: %+v", st.BlockedReads)
	}

	t.Run("btfs unmount", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, errOut, code := daemonMount(t, torrent, dir); code != 0 {
			t.Fatalf("btfs mount: exit %d: %s%s", code, out, errOut)
		}
		pid := stallStatusOf(t, dir).PID
		t.Cleanup(func() {
			if alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		afterCat(t, dir)
		start := time.Now()
		out, errOut, code := runBtfs(t, "unmount", dir)
		took := time.Since(start)
		if code != 0 {
			t.Fatalf("btfs unmount: exit %d: %s%s", code, out, errOut)
		}
		t.Logf("btfs unmount returned after %v (it waits for the mount's process to exit)", took.Round(time.Millisecond))
		if mounted(t, dir) || alive(pid) {
			t.Fatalf("after btfs unmount: mounted %v, process %d alive %v", mounted(t, dir), pid, alive(pid))
		}
		assertNoStrayProcesses(t, dir)
	})

	for _, how := range []string{"fusermount3 -u", "SIGTERM"} {
		t.Run(how, func(t *testing.T) {
			m, dir := mountTorrent(t, torrent)
			afterCat(t, dir)
			start := time.Now()
			if how == "SIGTERM" {
				_ = m.cmd.Process.Signal(syscall.SIGTERM)
			} else if out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput(); err != nil {
				t.Fatalf("fusermount3 -u: %v: %s", err, out)
			}
			select {
			case <-m.done:
				t.Logf("mount process exited %v after %s", time.Since(start).Round(time.Millisecond), how)
			case <-time.After(10 * time.Second):
				t.Fatalf("mount process still running 10 s after %s", how)
			}
			if m.err != nil {
				t.Errorf("btfs mount exited with %v", m.err)
			}
			if mounted(t, dir) {
				t.Fatal("still mounted")
			}
			assertNoStrayProcesses(t, dir)
		})
	}
}

// TestStallReadTimeout: with --read-timeout 2s a read of a piece nobody
// has fails with EIO, and leaves nothing waiting in the engine.
func TestStallReadTimeout(t *testing.T) {
	requireFUSE(t)
	torrent, rel := unseeded(t)
	_, dir := mountTorrent(t, torrent, "--read-timeout", "2s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := readCtx(ctx, filepath.Join(dir, rel))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("read: err = %v, want EIO", err)
	}
	t.Logf("read failed with %v after %v", err, time.Since(start).Round(time.Millisecond))
	waitStall(t, dir, "no blocked reads", func(st stallStatus) bool { return st.BlockedReads != nil && len(st.BlockedReads) == 0 })
}

// TestStallStatusShowsBlockedRead: a direct read of 4 KiB inside piece 3
// (the kernel sends it as it is) is listed by `btfs status` with its
// file, offset, size and piece, and no peer that has it; unmounting fails
// it.
func TestStallStatusShowsBlockedRead(t *testing.T) {
	requireFUSE(t)
	torrent, rel := unseeded(t)
	m, dir := mountTorrent(t, torrent)
	const off = 3*64<<10 + 8192
	dd := exec.Command("dd", "if="+filepath.Join(dir, rel), "of=/dev/null", "bs=4096", "count=1",
		"skip="+strconv.Itoa(off/4096), "iflag=direct")
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	ddDone := make(chan error, 1)
	go func() { ddDone <- dd.Wait() }()
	t.Cleanup(func() {
		_ = dd.Process.Kill()
		<-ddDone
	})

	st := waitStall(t, dir, "one blocked read", func(st stallStatus) bool { return len(st.BlockedReads) == 1 })
	b := st.BlockedReads[0]
	if b.Path != "f.bin" || b.Offset != off || b.Size != 4096 || b.Piece != 3 || b.PeersWithPiece != 0 || b.WaitingSeconds < 0 {
		t.Errorf("blocked read = %+v, want f.bin at %d, 4096 bytes, piece 3, peers_with_piece 0", b, off)
	}
	out, errOut, code := runBtfs(t, "status", dir)
	if code != 0 {
		t.Fatalf("btfs status: exit %d: %s", code, errOut)
	}
	if want := "blocked    f.bin at " + strconv.Itoa(off) + " (4.0 KiB)"; !strings.Contains(out, want) || !strings.Contains(out, "piece 3, which no connected peer has") {
		t.Errorf("btfs status lacks %q ... piece 3:\n%s", want, out)
	}

	if !m.stop(syscall.SIGTERM, 10*time.Second) {
		t.Fatal("mount process still running 10 s after SIGTERM")
	}
	select {
	case err := <-ddDone:
		ddDone <- err
		if err == nil {
			t.Fatal("dd succeeded although nobody has the data")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked dd still waiting 10 s after the unmount")
	}
}

// TestStallInterruptedReadIsReleased: a read the kernel interrupts is
// released in the engine: it disappears from `btfs status`. The kernel
// sends FUSE interrupts for synchronous requests only; a page fault of a
// mapping advised MADV_RANDOM is one (buffered reads go out as readahead,
// in the background, and are never interrupted: see the test above).
func TestStallInterruptedReadIsReleased(t *testing.T) {
	requireFUSE(t)
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("SKIPPING: python3 is needed to fault a page of a mapping")
	}
	torrent, rel := unseeded(t)
	_, dir := mountTorrent(t, torrent)
	const off = 5*64<<10 + 100
	// SIGINT kills, as it does most programs (Python's own handler would
	// only note it and fault the page again).
	script := `import mmap, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
fd = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
m.madvise(mmap.MADV_RANDOM)
m[int(sys.argv[2])]
`
	p := startProg(t, "python3", py, "-c", script, filepath.Join(dir, rel), strconv.Itoa(off))
	st := waitStall(t, dir, "the page fault's read", func(st stallStatus) bool { return len(st.BlockedReads) == 1 })
	if b := st.BlockedReads[0]; b.Piece != 5 || b.Offset != off&^4095 {
		t.Errorf("blocked read = %+v, want piece 5 at %d", b, off&^4095)
	}
	if !p.stop(syscall.SIGINT, 10*time.Second) {
		t.Fatal("the faulting process did not end within 10 s of SIGINT")
	}
	waitStall(t, dir, "the interrupted read released", func(st stallStatus) bool { return st.BlockedReads != nil && len(st.BlockedReads) == 0 })
}
