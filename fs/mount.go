package fs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// MountOptions tune the kernel side of a mount.
type MountOptions struct {
	FSName       string // source shown in mount tables; "" means "btfs"
	AllowOther   bool   // let other users see the mount (needs user_allow_other for non-root)
	MaxReadahead uint32 // kernel readahead in bytes; 0 asks for the most the kernel allows
}

// defaultReadaheadKB is the kernel readahead set on the mount's bdi.
const defaultReadaheadKB = 1024

// Unmount timing.
const (
	unmountBusyFor = time.Second            // retry a normal unmount this long before a lazy one
	unmountRetry   = 100 * time.Millisecond // between normal unmount attempts
	abortAfter     = 2 * time.Second        // after a lazy unmount, wait this long before aborting the connection
)

// stopKey is the request-context key of the context that is done when
// Mount's context is: reads in flight are cancelled by it.
type stopKey struct{}

// Mount mounts fsys read-only on dir and serves it until ctx is done or the
// file system is unmounted from outside (fusermount3 -u). When ctx is done
// it cancels reads in flight (they fail with EIO), unmounts, retrying for
// about a second while the mount is busy, then falls back to a lazy
// unmount. When the mount leaves the mount table from outside (an unmount,
// or a lazy one while files are open) it fails the reads in flight and
// every later one the same way. It returns once serving has stopped and dir
// is no longer a mount point; a stop by ctx or from outside returns nil.
//
// ready, if not nil, is closed once the kernel has finished INIT and the
// mount is live.
func Mount(ctx context.Context, dir string, fsys *FS, opts MountOptions, ready chan<- struct{}) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("mount %s: %w", dir, err)
	}
	name := opts.FSName
	if name == "" {
		name = "btfs"
	}
	readahead := opts.MaxReadahead
	if readahead == 0 {
		readahead = math.MaxUint32 // the kernel takes the minimum with its own limit
	}
	mopts := []fuse.MountOption{
		fuse.ReadOnly(),
		fuse.FSName(name),
		fuse.Subtype("btfs"),
		fuse.MaxReadahead(readahead),
		fuse.AsyncRead(),
		fuse.DefaultPermissions(),
	}
	if opts.AllowOther {
		mopts = append(mopts, fuse.AllowOther())
	}
	conn, err := fuseMount(dir, mopts...)
	if err != nil {
		return fmt.Errorf("mount %s: %w", dir, err)
	}
	defer conn.Close()
	dev, _ := mountDevice(dir)
	setReadahead(dev, opts.MaxReadahead, fsys)

	stop, stopReads := context.WithCancel(context.Background())
	defer stopReads()
	srv := fusefs.New(conn, &fusefs.Config{
		WithContext: func(ctx context.Context, _ fuse.Request) context.Context {
			return context.WithValue(ctx, stopKey{}, stop)
		},
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(fsys) }()
	if ready != nil {
		close(ready)
	}
	fsys.log.Info("fs: mounted", "dir", dir)

	gone, stopWatch := watchGone(dir, dev, fsys.log)
	defer stopWatch()
	select {
	case err := <-served:
		return fsys.served(dir, err)
	case <-gone:
		// Unmounted from outside. Serve returns only once every request
		// in flight is answered, and a read blocked on the engine (the
		// kernel's readahead of a reader that was killed: nobody
		// interrupts it) would wait forever.
		fsys.log.Info("fs: unmounted from outside, failing reads in flight", "dir", dir)
		stopReads()
		select {
		case err := <-served:
			return fsys.served(dir, err)
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	stopReads()
	return fsys.unmount(dir, dev, served)
}

// unmount stops a mount whose context is done and waits for Serve.
func (f *FS) unmount(dir, dev string, served <-chan error) error {
	deadline := time.Now().Add(unmountBusyFor)
	for {
		err := fuse.Unmount(dir)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			f.log.Info("fs: mount busy, unmounting lazily", "dir", dir, "err", err)
			if err := lazyUnmount(dir); err != nil {
				f.log.Warn("fs: lazy unmount", "dir", dir, "err", err)
			}
			break
		}
		select {
		case err := <-served:
			return f.served(dir, err)
		case <-time.After(unmountRetry):
		}
	}

	select {
	case err := <-served:
		return f.served(dir, err)
	case <-time.After(abortAfter):
	}
	// Files are still open on the lazily detached mount. Abort the
	// connection if the fuse control file system is there; otherwise
	// serving ends when the last file is closed.
	if dev != "" {
		if _, minor, ok := strings.Cut(dev, ":"); ok {
			abort := filepath.Join("/sys/fs/fuse/connections", minor, "abort")
			if err := os.WriteFile(abort, []byte("1"), 0); err != nil {
				f.log.Debug("fs: abort connection", "dir", dir, "err", err)
			}
		}
	}
	f.log.Warn("fs: waiting for open files to be closed", "dir", dir)
	return f.served(dir, <-served)
}

// setReadahead raises the kernel's readahead for the mount (its bdi starts
// at 128 KiB whatever FUSE negotiated), so sequential readers keep several
// reads in flight. Best effort: it needs root and sysfs.
func setReadahead(dev string, bytes uint32, f *FS) {
	if dev == "" {
		return
	}
	kb := uint32(defaultReadaheadKB)
	if bytes != 0 {
		kb = max(bytes/1024, 4)
	}
	p := filepath.Join("/sys/class/bdi", dev, "read_ahead_kb")
	if err := os.WriteFile(p, []byte(strconv.FormatUint(uint64(kb), 10)), 0); err != nil {
		f.log.Debug("fs: raise readahead", "path", p, "err", err)
	}
}

// served reports the end of serving.
func (f *FS) served(dir string, err error) error {
	if err != nil {
		return fmt.Errorf("serve %s: %w", dir, err)
	}
	f.log.Info("fs: unmounted", "dir", dir)
	return nil
}

// lazyUnmount detaches dir even while it is busy.
func lazyUnmount(dir string) error {
	out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput()
	if err == nil {
		return nil
	}
	err = fmt.Errorf("fusermount3 -u -z: %w: %s", err, strings.TrimSpace(string(out)))
	if err2 := syscall.Unmount(dir, syscall.MNT_DETACH); err2 != nil {
		return errors.Join(err, fmt.Errorf("umount2 detach: %w", err2))
	}
	return nil
}

// mountDevice returns the "major:minor" of the last mount on dir, from
// /proc/self/mountinfo; ok is false if dir is not a mount point.
func mountDevice(dir string) (dev string, ok bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if unescapeMountinfo(fields[4]) == dir {
			dev, ok = fields[2], true
		}
	}
	return dev, ok
}

// unescapeMountinfo undoes the octal escapes (\040 for space) of a
// mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
