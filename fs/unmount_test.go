package fs

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// proc is a program that uses the mount.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
	err  error         // its exit, once done
}

// startProc starts a program and kills it when the test ends, waiting a
// bounded time: a process the kernel keeps in D state cannot be reaped.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s %v still there 5 s after SIGKILL", name, args)
		}
	})
	return p
}

// mountBlocked mounts a 1 MiB file whose reads wait until cancelled and
// returns the mount point, Mount's cancel and its result.
func mountBlocked(t *testing.T) (dir string, ft *fakeTorrent, cancel context.CancelFunc, errC <-chan error) {
	t.Helper()
	info, data := build("f", false, spec{path: "f", length: 1 << 20})
	ft = &fakeTorrent{data: data, block: true, blocked: make(chan struct{}, 1)}
	dir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	c := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		c <- Mount(ctx, dir, New(info, ft, Options{}), MountOptions{FSName: "btfstest"}, ready)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-returned:
		case <-time.After(20 * time.Second):
			t.Error("Mount did not return after its context was cancelled")
		}
		if isMounted(dir) {
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	select {
	case <-ready:
	case err := <-c:
		t.Fatalf("Mount: %v", err)
	}
	return dir, ft, cancel, c
}

// TestStopWithFileHeldOpen: a stop by the context returns within about a
// second although a process keeps a file open (the mount stays busy) and
// another waits in a read; the mount is gone and the reader failed.
func TestStopWithFileHeldOpen(t *testing.T) {
	dir, ft, cancel, errC := mountBlocked(t)
	f := filepath.Join(dir, "f")
	startProc(t, "sh", "-c", "exec sleep 600 <'"+f+"'")
	cat := startProc(t, "cat", f)
	select {
	case <-ft.blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("read did not reach the engine")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-errC:
		if err != nil {
			t.Fatalf("Mount: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Mount still serving 5 s after its context was cancelled")
	}
	took := time.Since(start)
	t.Logf("Mount returned %v after its context was cancelled", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("Mount took %v to return, want < 2 s", took)
	}
	if isMounted(dir) {
		t.Errorf("%s still mounted", dir)
	}
	select {
	case <-cat.done:
		if cat.err == nil {
			t.Error("cat succeeded although the engine never answered")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cat still blocked 5 s after the mount stopped")
	}
}

// TestODirectReadInterrupted: an O_DIRECT read waiting in the engine ends
// at once when its process is killed: the handle is opened for direct
// I/O, so the kernel sends the read as one request and interrupts it.
func TestODirectReadInterrupted(t *testing.T) {
	dir, ft, _, _ := mountBlocked(t)
	dd := startProc(t, "dd", "if="+filepath.Join(dir, "f"), "of=/dev/null", "bs=4096", "count=1", "iflag=direct")
	select {
	case <-ft.blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("read did not reach the engine")
	}
	start := time.Now()
	_ = dd.cmd.Process.Kill()
	select {
	case <-dd.done:
		t.Logf("dd ended %v after SIGKILL", time.Since(start).Round(time.Millisecond))
	case <-time.After(3 * time.Second):
		t.Fatal("O_DIRECT reader still blocked 3 s after SIGKILL")
	}
}

// TestStopAfterLazyUnmount: a mount detached from outside while a file
// stays open keeps serving (and failing reads) until the kernel drops the
// connection; a stop by the context then still returns within about a
// second. Serving ends when the file is closed.
func TestStopAfterLazyUnmount(t *testing.T) {
	dir, ft, cancel, errC := mountBlocked(t)
	f := filepath.Join(dir, "f")
	holder := startProc(t, "sh", "-c", "exec sleep 600 <'"+f+"'")
	cat := startProc(t, "cat", f)
	select {
	case <-ft.blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("read did not reach the engine")
	}
	if out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u -z: %v: %s", err, out)
	}
	select {
	case <-cat.done:
	case <-time.After(5 * time.Second):
		t.Fatal("cat still blocked 5 s after the lazy unmount")
	}
	select {
	case err := <-errC:
		t.Fatalf("Mount returned (%v) while a file of the detached mount is open", err)
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	cancel()
	select {
	case err := <-errC:
		if err != nil {
			t.Fatalf("Mount: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Mount still serving 5 s after its context was cancelled")
	}
	t.Logf("Mount returned %v after its context was cancelled", time.Since(start).Round(time.Millisecond))
	_ = holder.cmd.Process.Kill()
	<-holder.done // then the kernel drops the connection: goleak sees serving end
}
