package fs

import (
	"context"
	"fmt"
	"io"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// handle is one open file: it owns the engine Reader for its lifetime, so
// the engine sees the handle's access pattern (readahead).
type handle struct {
	node *fileNode
	r    Reader
}

var (
	_ fusefs.Handle         = (*handle)(nil)
	_ fusefs.HandleReader   = (*handle)(nil)
	_ fusefs.HandleReleaser = (*handle)(nil)
	_ fusefs.HandlePoller   = (*handle)(nil)
)

// Read implements fs.HandleReader. It fills the whole request or fails:
// a short reply would make the kernel believe the file ends there.
func (h *handle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	f := h.node.file
	size := int64(req.Size)
	if rest := f.Length - req.Offset; rest < size {
		size = rest
	}
	if req.Offset < 0 || size <= 0 {
		resp.Data = resp.Data[:0]
		return nil
	}

	if stop, ok := ctx.Value(stopKey{}).(context.Context); ok {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		unregister := context.AfterFunc(stop, func() { cancel(errUnmounting) })
		defer unregister()
	}
	if d := h.node.fs.opts.ReadTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, fmt.Errorf("%w after %v", errReadTimeout, d))
		defer cancel()
	}

	buf := resp.Data[:size]
	if int64(cap(resp.Data)) < size {
		buf = make([]byte, size)
	}
	if err := readFull(ctx, h.r, buf, f.Offset+req.Offset); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		h.node.fs.log.Debug("fs: read failed", "path", h.node.path, "offset", req.Offset, "size", size, "err", err)
		return errno(err)
	}
	resp.Data = buf
	return nil
}

// readFull reads len(p) bytes at off or returns an error.
func readFull(ctx context.Context, r Reader, p []byte, off int64) error {
	for done := 0; done < len(p); {
		n, err := r.ReadAt(ctx, p[done:], off+int64(done))
		done += n
		switch {
		case done == len(p):
			return nil
		case err == io.EOF:
			return io.ErrUnexpectedEOF
		case err != nil:
			return err
		case n == 0:
			return io.ErrNoProgress
		}
	}
	return nil
}

// Release implements fs.HandleReleaser.
func (h *handle) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	if err := h.r.Close(); err != nil {
		h.node.fs.log.Debug("fs: closing reader", "path", h.node.path, "err", err)
	}
	return nil
}

// Poll implements fs.HandlePoller by refusing: the kernel then stops
// sending POLL requests for the whole connection and treats files as always
// ready. Without this, a Go program that opens a file of the mount puts it
// in its epoll set, and epoll_wait itself waits for a FUSE answer; in the
// serving process that can stall the runtime's poller and deadlock.
func (h *handle) Poll(ctx context.Context, req *fuse.PollRequest, resp *fuse.PollResponse) error {
	return errno(errNoPoll)
}
