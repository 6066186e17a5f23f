package fs

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"bazil.org/fuse"
	"golang.org/x/sys/unix"
)

// Unmount timing: a stop by the context (SIGTERM) ends within about a
// second even while files stay open.
const (
	unmountBusyFor = 500 * time.Millisecond // retry a normal unmount this long before forcing one
	unmountRetry   = 50 * time.Millisecond  // between normal unmount attempts
	serveWait      = 500 * time.Millisecond // once unmounted or forced, wait this long for serving to end
)

// unmount stops a mount whose context is done (its reads fail already):
// a normal unmount, retried while the mount is busy, then a forced one. It
// waits for serving to end, at most serveWait after the unmount.
func (f *FS) unmount(dir, dev string, served <-chan error) error {
	if dev == "" || mountedAs(dir, dev) {
		for deadline := time.Now().Add(unmountBusyFor); ; {
			err := fuse.Unmount(dir)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				f.log.Info("fs: mount busy, forcing the unmount", "dir", dir, "err", err)
				f.force(dir, dev)
				break
			}
			select {
			case err := <-served:
				return f.served(dir, err)
			case <-time.After(unmountRetry):
			}
		}
	} else if f.abort(dev) {
		// Detached from outside, files still open on it.
		f.log.Info("fs: aborted the connection of the detached mount", "dir", dir)
	}
	select {
	case err := <-served:
		return f.served(dir, err)
	case <-time.After(serveWait):
	}
	f.log.Warn("fs: unmounted with files still open; serving ends when they are closed or this process exits", "dir", dir)
	return nil
}

// force aborts the mount's connection and detaches it from dir. The abort
// fails every request in flight and every later one (ENOTCONN) and ends
// serving; without it a detached mount is served until its last file is
// closed, which a process may never do. MNT_FORCE aborts a FUSE
// connection even while the mount is busy, but needs CAP_SYS_ADMIN;
// otherwise the fuse control file system, where mounted, lets the mount's
// owner abort it.
func (f *FS) force(dir, dev string) {
	// Only if the mount on top of dir is ours: MNT_FORCE would abort
	// whatever file system it finds there.
	if top, _ := mountDevice(dir); top == dev && dev != "" {
		err := unix.Unmount(dir, unix.MNT_FORCE|unix.MNT_DETACH)
		if err == nil {
			return
		}
		f.log.Debug("fs: forced unmount", "dir", dir, "err", err)
	}
	f.abort(dev)
	if err := lazyUnmount(dir); err != nil {
		f.log.Warn("fs: lazy unmount", "dir", dir, "err", err)
	}
}

// abort aborts the connection of the mount dev through the fuse control
// file system (/sys/fs/fuse/connections/MINOR/abort, writable by the
// mount's owner); false when that is not mounted or refused.
func (f *FS) abort(dev string) bool {
	_, minor, ok := strings.Cut(dev, ":")
	if !ok {
		return false
	}
	// Not os.WriteFile: see openMountinfo.
	fd, err := unix.Open(filepath.Join(fusectl, minor, "abort"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Write(fd, []byte("1"))
		unix.Close(fd)
	}
	if err != nil {
		f.log.Debug("fs: abort connection", "dev", dev, "err", err)
	}
	return err == nil
}

// fusectl is where the fuse control file system is mounted.
const fusectl = "/sys/fs/fuse/connections"

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
