package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"syscall"

	"bazil.org/fuse"
)

var (
	// errReadOnly is returned for any request that would write.
	errReadOnly = errors.New("read-only file system")
	// errUnmounting cancels reads in flight when Mount's context is done
	// or the mount has left the mount table.
	errUnmounting = errors.New("file system is being unmounted")
	// errReadTimeout ends a read that waited Options.ReadTimeout.
	errReadTimeout = errors.New("read timeout")
	// errNoPoll turns FUSE polling off.
	errNoPoll = errors.New("poll not supported")
)

// errno is the only mapping from Go errors to the errno the kernel returns
// to the application:
//
//   - a fuse.Errno (or any fuse.ErrorNumber) passes through;
//   - a write attempt gives EROFS; a poll gives ENOSYS;
//   - an unmount in progress, a read that waited Options.ReadTimeout or a
//     closed engine (an error wrapping io/fs.ErrClosed, which os.ErrClosed
//     is) gives EIO;
//   - a cancelled or timed-out context gives EINTR (a FUSE interrupt: the
//     application got a signal);
//   - anything else gives EIO.
func errno(err error) fuse.Errno {
	if err == nil {
		return 0
	}
	var num fuse.ErrorNumber
	switch {
	case errors.As(err, &num):
		return num.Errno()
	case errors.Is(err, errReadOnly):
		return fuse.Errno(syscall.EROFS)
	case errors.Is(err, errNoPoll):
		return fuse.Errno(syscall.ENOSYS)
	case errors.Is(err, errUnmounting), errors.Is(err, errReadTimeout), errors.Is(err, iofs.ErrClosed):
		return fuse.Errno(syscall.EIO)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fuse.Errno(syscall.EINTR)
	}
	return fuse.Errno(syscall.EIO)
}
