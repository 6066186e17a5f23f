package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"

	"bazil.org/fuse"
)

func TestErrno(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want fuse.Errno
	}{
		{"nil", nil, 0},
		{"errno passthrough", fuse.Errno(syscall.ENOENT), fuse.Errno(syscall.ENOENT)},
		{"wrapped errno", fmt.Errorf("x: %w", fuse.Errno(syscall.EAGAIN)), fuse.Errno(syscall.EAGAIN)},
		{"read-only", errReadOnly, fuse.Errno(syscall.EROFS)},
		{"poll", errNoPoll, fuse.Errno(syscall.ENOSYS)},
		{"canceled", context.Canceled, fuse.Errno(syscall.EINTR)},
		{"wrapped canceled", fmt.Errorf("piece 3: %w", context.Canceled), fuse.Errno(syscall.EINTR)},
		{"deadline", context.DeadlineExceeded, fuse.Errno(syscall.EINTR)},
		{"unmounting", fmt.Errorf("%w (%w)", context.Canceled, errUnmounting), fuse.Errno(syscall.EIO)},
		{"read timeout", fmt.Errorf("%w (%w)", context.DeadlineExceeded, fmt.Errorf("%w after 2s", errReadTimeout)), fuse.Errno(syscall.EIO)},
		{"engine closed", fmt.Errorf("torrent: %w", os.ErrClosed), fuse.Errno(syscall.EIO)},
		{"closed and canceled", errors.Join(os.ErrClosed, context.Canceled), fuse.Errno(syscall.EIO)},
		{"unexpected EOF", io.ErrUnexpectedEOF, fuse.Errno(syscall.EIO)},
		{"plain syscall errno", syscall.ENOSPC, fuse.Errno(syscall.EIO)},
		{"other", errors.New("hash mismatch"), fuse.Errno(syscall.EIO)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errno(tt.err); got != tt.want {
				t.Errorf("errno(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
