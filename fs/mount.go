package fs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

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

// stopKey is the request-context key of the context that is done when
// Mount's context is: reads in flight are cancelled by it.
type stopKey struct{}

// Mount mounts fsys read-only on dir and serves it until ctx is done or the
// file system is unmounted from outside (fusermount3 -u). When ctx is done
// it cancels reads in flight (they fail with EIO) and unmounts, retrying
// for half a second while the mount is busy; then it forces the unmount
// (see force), and returns within about a second of ctx in every case.
// When the mount leaves the mount table from outside (an unmount, or a
// lazy one while files are open) it fails the reads in flight and every
// later one the same way, and serves until the kernel drops the
// connection: once the last open file is closed. A stop by ctx or from
// outside returns nil, and dir is no longer a mount point.
//
// Serving has stopped when Mount returns, except after a stop by ctx of a
// mount whose connection could not be aborted (an unprivileged mount
// without the fuse control file system) while files stay open on it: it
// ends when they are closed, or with the process, whose exit closes
// /dev/fuse and so ends the connection.
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
	go func() {
		err := srv.Serve(fsys)
		// Only now: Close waits for a read of /dev/fuse in progress,
		// and that read ends when the kernel drops the connection.
		conn.Close()
		served <- err
	}()
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

// served reports the end of serving. Once the kernel has dropped the
// connection, reading /dev/fuse fails with ENODEV, which Serve takes for
// the end, or with ECONNABORTED when a request was being handed over
// (RELEASE of the last file racing the unmount) or the connection was
// aborted: an end too.
func (f *FS) served(dir string, err error) error {
	if errors.Is(err, syscall.ECONNABORTED) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("serve %s: %w", dir, err)
	}
	f.log.Info("fs: unmounted", "dir", dir)
	return nil
}

// mountDevice returns the "major:minor" of the last mount on dir, from
// /proc/self/mountinfo; ok is false if dir is not a mount point.
func mountDevice(dir string) (dev string, ok bool) {
	f, err := openMountinfo()
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
