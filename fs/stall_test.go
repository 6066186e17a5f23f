package fs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReadTimeoutIsEIO: with Options.ReadTimeout, a read the engine never
// answers fails with EIO.
func TestReadTimeoutIsEIO(t *testing.T) {
	info, data := build("f", false, spec{path: "f", length: 1 << 20})
	ft := &fakeTorrent{data: data, block: true, blocked: make(chan struct{}, 1)}
	dir, _ := mountFS(t, New(info, ft, Options{ReadTimeout: 300 * time.Millisecond}))
	errC := make(chan error, 1)
	go func() {
		_, err := os.ReadFile(filepath.Join(dir, "f"))
		errC <- err
	}()
	select {
	case err := <-errC:
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("read: err = %v, want EIO", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read with a timeout still blocked")
	}
}

// TestUnmountFromOutsideWithBlockedRead: a reader killed while the engine
// has not answered leaves the kernel's readahead requests in flight (the
// kernel interrupts none of them). An unmount from outside then fails them
// and Mount returns, without its context being cancelled.
func TestUnmountFromOutsideWithBlockedRead(t *testing.T) {
	dir, ft, _, errC := mountBlocked(t)

	cat := exec.Command("cat", filepath.Join(dir, "f"))
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ft.blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("read did not reach the engine")
	}
	_ = cat.Process.Signal(syscall.SIGINT)
	catDone := make(chan error, 1)
	go func() { catDone <- cat.Wait() }()
	select {
	case <-catDone:
	case <-time.After(5 * time.Second):
		_ = cat.Process.Kill()
		t.Fatal("cat did not exit on SIGINT")
	}

	if out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u: %v: %s", err, out)
	}
	start := time.Now()
	select {
	case err := <-errC:
		if err != nil {
			t.Fatalf("Mount: %v", err)
		}
		t.Logf("Mount returned %v after the unmount", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("Mount still serving 10 s after an unmount from outside")
	}
	if isMounted(dir) {
		t.Errorf("%s still mounted", dir)
	}
}
