package integration

// Unmount and shutdown (issue 15, item 4): a lazy unmount fails the reads
// waiting for pieces and the process exits once the kernel drops the
// connection; SIGTERM ends a mount whose reads can never complete in
// under 2 s; an O_DIRECT reader waiting for a piece is released by a
// signal, by an unmount and by the end of the btfs process. The reads are
// of a torrent nobody seeds (unseeded), so they wait until released.
// stall_test.go has the unmounts after an interrupted buffered read.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// readerProc is a process reading the mount. The test never waits for it
// without a bound: a reader the kernel keeps in D state cannot be reaped.
type readerProc struct {
	name string
	cmd  *exec.Cmd
	out  bytes.Buffer // stdout and stderr; read only after done
	done chan struct{}
	err  error
}

// startReaderProc runs a shell script (its last command exec'd, so the
// pid is the reader's) in a process group of its own, and kills the group
// when the test ends.
func startReaderProc(t *testing.T, name, script string) *readerProc {
	t.Helper()
	r := &readerProc{name: name, cmd: exec.Command("sh", "-c", script), done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// runuser leaves its child running when killed, holding the output.
	r.cmd.WaitDelay = time.Second
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.kill()
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s (pid %d) still there 5 s after SIGKILL: %s", name, r.cmd.Process.Pid, kernelState(r.cmd.Process.Pid))
		}
	})
	return r
}

// kill sends SIGKILL to the reader's process group.
func (r *readerProc) kill() { _ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL) }

// wait waits at most d for the reader to end and says how long it took.
func (r *readerProc) wait(d time.Duration) (time.Duration, bool) {
	start := time.Now()
	select {
	case <-r.done:
		return time.Since(start), true
	case <-time.After(d):
		return d, false
	}
}

// mustFail checks that the reader, which has ended, failed: the data is
// nowhere.
func (r *readerProc) mustFail(t *testing.T) {
	t.Helper()
	if r.err == nil {
		t.Errorf("%s succeeded although nobody has the data: %s", r.name, r.out.String())
	}
}

// kernelState is the state letter and kernel wait channel of pid
// ("D fuse_direct_IO"), for the log.
func kernelState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "gone"
	}
	s := string(b)
	state := "?"
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		state = s[i+2 : i+3]
	}
	wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
	return state + " " + string(wchan)
}

// waitProcGone polls until pid has exited (a zombie counts) and says how
// long it took, at most d.
func waitProcGone(pid int, d time.Duration) (time.Duration, bool) {
	start := time.Now()
	for alive(pid) {
		if time.Since(start) > d {
			return d, false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start), true
}

// ddSkip is the dd skip= (in 4 KiB blocks) of an offset inside piece i
// of the unseeded torrent (64 KiB pieces).
func ddSkip(i int) string { return strconv.Itoa(i*64<<10/4096 + 2) }

// directRead reads one 4 KiB block of piece i with O_DIRECT passed to
// open(2): the kernel sends it as it is, one synchronous request.
func directRead(path string, i int) string {
	return "exec dd if='" + path + "' of=/dev/null bs=4096 count=1 iflag=direct skip=" + ddSkip(i)
}

// fcntlDirectRead reads one block of piece i from a file opened without
// O_DIRECT and switched to it by fcntl(F_SETFL), as dd does for its
// standard input: the kernel then sends the read as asynchronous direct
// I/O (background requests, which it never interrupts) and waits for them
// uninterruptibly.
func fcntlDirectRead(path string, i int) string {
	return "exec dd of=/dev/null bs=4096 count=1 iflag=direct skip=" + ddSkip(i) + " <'" + path + "'"
}

// holdOpen keeps the file open and reads nothing.
func holdOpen(path string) string { return "exec sleep 600 <'" + path + "'" }

// waitBlocked waits until the mount has a blocked read in each of pieces.
func waitBlocked(t *testing.T, dir string, pieces ...int) {
	t.Helper()
	waitBlockedIn(t, func() stallStatus { return stallStatusOf(t, dir) }, pieces...)
}

// waitBlockedIn is waitBlocked for a mount whose status is got by status.
func waitBlockedIn(t *testing.T, status func() stallStatus, pieces ...int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st := status()
		blocked := map[int]bool{}
		for _, b := range st.BlockedReads {
			blocked[b.Piece] = true
		}
		missing := slices.DeleteFunc(slices.Clone(pieces), func(p int) bool { return blocked[p] })
		if len(missing) == 0 {
			t.Logf("%d reads blocked", len(st.BlockedReads))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no blocked read in pieces %v after 10 s; status: %+v", missing, st)
		}
	}
}

// TestUnmountLazyWithBlockedReader: after `fusermount3 -uz` a read
// waiting for a piece fails at once, and the btfs process exits once the
// kernel drops the connection: when the last open file is closed.
func TestUnmountLazyWithBlockedReader(t *testing.T) {
	requireFUSE(t)
	torrent, rel := unseeded(t)

	// lazy detaches dir and checks that the blocked cat fails within 5 s.
	lazy := func(t *testing.T, dir string, cat *readerProc) time.Time {
		t.Helper()
		if out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput(); err != nil {
			t.Fatalf("fusermount3 -u -z: %v: %s", err, out)
		}
		detached := time.Now()
		took, ok := cat.wait(5 * time.Second)
		if !ok {
			t.Fatalf("cat still blocked 5 s after the lazy unmount: %s", kernelState(cat.cmd.Process.Pid))
		}
		cat.mustFail(t)
		t.Logf("cat failed %v after the lazy unmount: %s", took.Round(time.Millisecond), strings.TrimSpace(cat.out.String()))
		if mounted(t, dir) {
			t.Errorf("%s still in the mount table after a lazy unmount", dir)
		}
		return detached
	}

	t.Run("foreground", func(t *testing.T) {
		m, dir := mountTorrent(t, torrent)
		cat := startReaderProc(t, "cat", "exec cat '"+filepath.Join(dir, rel)+"' >/dev/null")
		waitBlocked(t, dir, 0)
		detached := lazy(t, dir, cat)
		select {
		case <-m.done:
			t.Logf("btfs exited %v after the lazy unmount", time.Since(detached).Round(time.Millisecond))
		case <-time.After(5 * time.Second):
			t.Fatal("btfs still running 5 s after the lazy unmount, its only reader gone")
		}
		if m.err != nil {
			t.Errorf("btfs mount exited with %v", m.err)
		}
		assertNoStrayProcesses(t, dir)
	})

	t.Run("file held open", func(t *testing.T) {
		m, dir := mountTorrent(t, torrent)
		path := filepath.Join(dir, rel)
		holder := startReaderProc(t, "holder", holdOpen(path))
		cat := startReaderProc(t, "cat", "exec cat '"+path+"' >/dev/null")
		waitBlocked(t, dir, 0)
		lazy(t, dir, cat)
		// The kernel keeps the connection while a file is open: the
		// process still serves it (and fails its reads).
		select {
		case <-m.done:
			t.Fatalf("btfs exited (%v) while a file of the detached mount is open", m.err)
		case <-time.After(time.Second):
		}
		holder.kill()
		if _, ok := holder.wait(5 * time.Second); !ok {
			t.Fatalf("the holder did not exit on SIGKILL: %s", kernelState(holder.cmd.Process.Pid))
		}
		closed := time.Now()
		select {
		case <-m.done:
			t.Logf("btfs exited %v after the last open file was closed", time.Since(closed).Round(time.Millisecond))
		case <-time.After(5 * time.Second):
			t.Fatal("btfs still running 5 s after the last file of the detached mount was closed")
		}
		if m.err != nil {
			t.Errorf("btfs mount exited with %v", m.err)
		}
	})

	t.Run("daemon", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "mnt")
		mustDaemonMount(t, torrent, dir)
		pid := stallStatusOf(t, dir).PID
		t.Cleanup(func() {
			if alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		cat := startReaderProc(t, "cat", "exec cat '"+filepath.Join(dir, rel)+"' >/dev/null")
		waitBlocked(t, dir, 0)
		detached := lazy(t, dir, cat)
		took, ok := waitProcGone(pid, 5*time.Second)
		if !ok {
			t.Fatalf("the btfs process %d still running 5 s after the lazy unmount of its only mount", pid)
		}
		t.Logf("the btfs process exited %v after the lazy unmount (%v after cat failed)", time.Since(detached).Round(time.Millisecond), took.Round(time.Millisecond))
		assertNoStrayProcesses(t, dir)
	})
}

// TestUnmountSIGTERMWithBlockedReads: SIGTERM ends a mount in under 2 s
// while reads wait for pieces nobody has (buffered ones with the kernel's
// readahead, an O_DIRECT one) and another process keeps a file open; the
// readers fail and the mountpoint is left unmounted. For root the forced
// unmount aborts the connection (MNT_FORCE); for a user without the fuse
// control file system it cannot: the process's exit ends it.
func TestUnmountSIGTERMWithBlockedReads(t *testing.T) {
	requireFUSE(t)
	torrent, rel := unseeded(t)
	const limit = 2 * time.Second

	// readers starts the readers (each shell script through as, which
	// runs it as the mount's owner), waits until their reads are
	// blocked, and returns the process keeping a file open and the
	// readers, which must fail.
	readers := func(t *testing.T, dir string, as func(string) string, status func() stallStatus) (holder *readerProc, failing []*readerProc) {
		t.Helper()
		path := filepath.Join(dir, rel)
		holder = startReaderProc(t, "holder", as(holdOpen(path)))
		failing = []*readerProc{
			startReaderProc(t, "cat", as("exec cat '"+path+"' >/dev/null")),
			startReaderProc(t, "dd from piece 8", as("exec dd if='"+path+"' of=/dev/null bs=64k skip=8")),
			startReaderProc(t, "O_DIRECT dd", as(directRead(path, 13))),
		}
		waitBlockedIn(t, status, 0, 8, 13)
		return holder, failing
	}
	asRoot := func(script string) string { return script }
	// stop sends SIGTERM to pid and checks it exits within limit.
	stop := func(t *testing.T, pid int, what string) {
		t.Helper()
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		took, ok := waitProcGone(pid, 10*time.Second)
		if !ok {
			t.Fatalf("%s (pid %d) still running 10 s after SIGTERM", what, pid)
		}
		t.Logf("%s exited %v after SIGTERM", what, took.Round(time.Millisecond))
		if took > limit {
			t.Errorf("%s took %v to exit after SIGTERM, want < %v", what, took, limit)
		}
	}
	// after checks the readers and the mountpoint once btfs has exited.
	after := func(t *testing.T, dir string, holder *readerProc, failing []*readerProc) {
		t.Helper()
		for _, r := range failing {
			if _, ok := r.wait(5 * time.Second); !ok {
				t.Errorf("%s still blocked 5 s after SIGTERM: %s", r.name, kernelState(r.cmd.Process.Pid))
				continue
			}
			r.mustFail(t)
		}
		if mounted(t, dir) {
			t.Errorf("%s still mounted after btfs exited", dir)
		}
		holder.kill()
		assertNoStrayProcesses(t, dir)
	}
	// dumpLogs logs a background mount's logs if the test failed.
	dumpLogs := func(t *testing.T, cache string) {
		t.Cleanup(func() {
			if !t.Failed() {
				return
			}
			logs, _ := filepath.Glob(filepath.Join(cache, "logs", "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("--- %s:\n%s", l, b)
			}
		})
	}

	t.Run("foreground", func(t *testing.T) {
		m, dir := mountTorrent(t, torrent)
		holder, failing := readers(t, dir, asRoot, func() stallStatus { return stallStatusOf(t, dir) })
		stop(t, m.cmd.Process.Pid, "btfs mount -f")
		<-m.done
		if m.err != nil {
			t.Errorf("btfs mount exited with %v", m.err)
		}
		after(t, dir, holder, failing)
	})

	t.Run("daemon", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "mnt")
		cache := filepath.Join(t.TempDir(), "cache")
		mustDaemonMount(t, torrent, dir, "--cache-dir", cache)
		dumpLogs(t, cache)
		pid := stallStatusOf(t, dir).PID
		t.Cleanup(func() {
			if alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		holder, failing := readers(t, dir, asRoot, func() stallStatus { return stallStatusOf(t, dir) })
		stop(t, pid, "the btfs process")
		after(t, dir, holder, failing)
	})

	t.Run("unprivileged daemon", func(t *testing.T) {
		u := newTestUser(t)
		setDevFuseMode(t, 0o666)
		tf := filepath.Join(u.shared, "lonely.torrent")
		b, err := os.ReadFile(torrent)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tf, b, 0o644); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(u.home, "mnt")
		if _, se, code := u.run("mkdir", dir); code != 0 {
			t.Fatalf("mkdir %s as %s: %s", dir, u.name, se)
		}
		if out, errOut, code := u.btfs("mount", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info", tf, dir); code != 0 {
			t.Fatalf("btfs mount as %s: exit %d: %s%s", u.name, code, out, errOut)
		}
		dumpLogs(t, filepath.Join(u.home, ".cache", "btfs"))
		// Only the user may use its mount (no allow_other).
		status := func() stallStatus {
			out, errOut, code := u.btfs("status", "--json", dir)
			var st []stallStatus
			if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st) != 1 {
				t.Fatalf("btfs status --json as %s: exit %d: %s%s", u.name, code, out, errOut)
			}
			return st[0]
		}
		asUser := func(script string) string {
			return "exec runuser -u " + u.name + " -- sh -c '" + strings.ReplaceAll(script, "'", `'\''`) + "'"
		}
		pid := status().PID
		holder, failing := readers(t, dir, asUser, status)
		stop(t, pid, "the user's btfs process")
		after(t, dir, holder, failing)
	})
}

// TestUnmountODirectReader: an O_DIRECT read waiting for a piece is
// released by a signal (a FUSE interrupt cancels it), by a lazy unmount,
// and by the end of the btfs process, SIGTERM or SIGKILL. A read the kernel
// sends as asynchronous direct I/O (O_DIRECT set by fcntl) cannot be
// interrupted, even by SIGKILL: only an answer or the end of the
// connection releases it, and every way of ending the mount gives one.
func TestUnmountODirectReader(t *testing.T) {
	requireFUSE(t)
	torrent, rel := unseeded(t)

	// killed starts an fcntl O_DIRECT reader, waits until its read is
	// blocked and SIGKILLs it: it stays in the kernel.
	killed := func(t *testing.T, dir string) *readerProc {
		t.Helper()
		r := startReaderProc(t, "fcntl O_DIRECT dd", fcntlDirectRead(filepath.Join(dir, rel), 5))
		waitBlocked(t, dir, 5)
		_ = r.cmd.Process.Kill()
		time.Sleep(500 * time.Millisecond)
		select {
		case <-r.done:
			t.Logf("the kernel let the SIGKILLed async O_DIRECT reader go on its own (%v)", r.err)
		default:
			t.Logf("SIGKILLed async O_DIRECT reader after 500 ms: %s", kernelState(r.cmd.Process.Pid))
		}
		return r
	}

	t.Run("signal", func(t *testing.T) {
		_, dir := mountTorrent(t, torrent)
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
			r := startReaderProc(t, "O_DIRECT dd", directRead(filepath.Join(dir, rel), 3))
			waitBlocked(t, dir, 3)
			t.Logf("blocked O_DIRECT reader: %s", kernelState(r.cmd.Process.Pid))
			_ = r.cmd.Process.Signal(sig)
			took, ok := r.wait(3 * time.Second)
			if !ok {
				t.Fatalf("O_DIRECT reader still blocked 3 s after %s: %s", unix.SignalName(sig), kernelState(r.cmd.Process.Pid))
			}
			t.Logf("O_DIRECT reader ended %v after %s", took.Round(time.Millisecond), unix.SignalName(sig))
			r.mustFail(t)
			waitStall(t, dir, "the interrupted read released", func(st stallStatus) bool { return st.BlockedReads != nil && len(st.BlockedReads) == 0 })
		}
	})

	t.Run("btfs unmount", func(t *testing.T) {
		m, dir := mountTorrent(t, torrent)
		live := startReaderProc(t, "O_DIRECT dd", directRead(filepath.Join(dir, rel), 3))
		waitBlocked(t, dir, 3)
		dead := killed(t, dir)
		// Busy: a normal unmount is refused, as umount(8) refuses it.
		if out, errOut, code := runBtfs(t, "unmount", dir); code == 0 || !mounted(t, dir) {
			t.Fatalf("btfs unmount of a busy mount: exit %d, mounted %v: %s%s", code, mounted(t, dir), out, errOut)
		}
		start := time.Now()
		if out, errOut, code := runBtfs(t, "unmount", "-z", dir); code != 0 {
			t.Fatalf("btfs unmount -z: exit %d: %s%s", code, out, errOut)
		}
		t.Logf("btfs unmount -z returned after %v", time.Since(start).Round(time.Millisecond))
		for _, r := range []*readerProc{live, dead} {
			if _, ok := r.wait(5 * time.Second); !ok {
				t.Fatalf("%s still blocked 5 s after btfs unmount -z: %s", r.name, kernelState(r.cmd.Process.Pid))
			}
		}
		live.mustFail(t)
		select {
		case <-m.done:
			t.Logf("btfs exited %v after btfs unmount -z", time.Since(start).Round(time.Millisecond))
		case <-time.After(5 * time.Second):
			t.Fatal("btfs still running 5 s after btfs unmount -z, its readers gone")
		}
		assertNoStrayProcesses(t, dir)
	})

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			m, dir := mountTorrent(t, torrent)
			live := startReaderProc(t, "O_DIRECT dd", directRead(filepath.Join(dir, rel), 3))
			waitBlocked(t, dir, 3)
			dead := killed(t, dir)
			start := time.Now()
			_ = m.cmd.Process.Signal(sig)
			select {
			case <-m.done:
				t.Logf("btfs exited %v after %s", time.Since(start).Round(time.Millisecond), unix.SignalName(sig))
			case <-time.After(10 * time.Second):
				t.Fatalf("btfs still running 10 s after %s", unix.SignalName(sig))
			}
			for _, r := range []*readerProc{live, dead} {
				if _, ok := r.wait(5 * time.Second); !ok {
					t.Fatalf("%s still blocked 5 s after btfs got %s: %s", r.name, unix.SignalName(sig), kernelState(r.cmd.Process.Pid))
				}
			}
			live.mustFail(t)
			t.Logf("readers released %v after %v: %s", time.Since(start).Round(time.Millisecond), unix.SignalName(sig), strings.TrimSpace(live.out.String()))
			if sig == syscall.SIGTERM && mounted(t, dir) {
				t.Errorf("%s still mounted after btfs exited", dir)
			}
		})
	}
}
