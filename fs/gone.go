package fs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// mountinfo is the mount table of our mount namespace.
const mountinfo = "/proc/self/mountinfo"

// watchGone returns a channel that is closed once the mount dev on dir has
// left the mount table: it was unmounted, or lazily detached, from outside
// (fusermount3 -u, umount). The table is read again only when the kernel
// says it changed (POLLPRI on an open mountinfo). stop ends the watch and
// waits for its goroutine. Without dev, or when mountinfo cannot be
// polled, the channel is never closed.
func watchGone(dir, dev string, log *slog.Logger) (gone <-chan struct{}, stop func()) {
	if dev == "" {
		return nil, func() {}
	}
	// A raw descriptor, not an *os.File: the runtime's poller is not to
	// see the table's events.
	fd, err := unix.Open(mountinfo, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		log.Debug("fs: watching the mount table", "err", err)
		return nil, func() {}
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		log.Debug("fs: watching the mount table", "err", err)
		return nil, func() {}
	}
	c := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}, {Fd: int32(wake), Events: unix.POLLIN}}
		for {
			// Opened before this first look, so no change is missed:
			// the kernel flags any change since the open.
			if !mountedAs(dir, dev) {
				close(c)
				return
			}
			fds[0].Revents, fds[1].Revents = 0, 0
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				log.Warn("fs: watching the mount table", "dir", dir, "err", err)
				return
			}
			if fds[1].Revents != 0 {
				return
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			var one [8]byte
			binary.NativeEndian.PutUint64(one[:], 1)
			if _, err := unix.Write(wake, one[:]); err != nil {
				log.Warn("fs: stopping the mount table watch", "err", err)
			}
			<-done
			unix.Close(wake)
		})
	}
	return c, stop
}

// mountedAs reports whether the mount table has the mount dev
// ("major:minor") on dir. When the table cannot be read it says yes: only
// a table that lacks the mount counts as gone.
func mountedAs(dir, dev string) bool {
	f, err := openMountinfo()
	if err != nil {
		return true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ...
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && fields[2] == dev && unescapeMountinfo(fields[4]) == dir {
			return true
		}
	}
	return sc.Err() != nil
}

// openMountinfo opens the mount table without registering it with the
// runtime's poller, as os.Open would (the table supports poll). A
// registration waits for the poller's lock, which the registration of a
// file of our own mount holds while the kernel asks Serve to poll it; when
// such waits hold every P (a process reading its own mount, as the tests
// do, on two CPUs) Serve never runs and the process deadlocks.
func openMountinfo() (*os.File, error) {
	fd, err := unix.Open(mountinfo, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: mountinfo, Err: err}
	}
	return os.NewFile(uintptr(fd), mountinfo), nil
}
