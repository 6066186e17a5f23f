package fs

import (
	"bytes"
	"io"
	"log"
	"strings"
	"sync"

	"bazil.org/fuse"
)

// HelperError is a failed mount with what fusermount3 said about it
// ("fusermount3: failed to open /dev/fuse: Permission denied").
// bazil.org/fuse returns only "fusermount: exit status 1" and sends the
// helper's stderr, line by line, to the standard logger.
type HelperError struct {
	Lines []string // fusermount3's stderr
	Err   error    // what bazil.org/fuse returned
}

func (e *HelperError) Error() string { return strings.Join(e.Lines, "; ") }
func (e *HelperError) Unwrap() error { return e.Err }

// helperPrefix starts each line of fusermount3's stderr that
// bazil.org/fuse logs.
const helperPrefix = "mount helper error: "

// stdLog serialises fuse.Mount calls, each of which points the standard
// logger (one per process, not ours) at its own capture while it runs.
var stdLog sync.Mutex

// fuseMount is fuse.Mount that returns fusermount3's own words when it
// fails. The helper's lines still reach the standard logger's output.
func fuseMount(dir string, opts ...fuse.MountOption) (*fuse.Conn, error) {
	stdLog.Lock()
	defer stdLog.Unlock()
	c := &helperCapture{w: log.Writer()}
	log.SetOutput(c)
	conn, err := fuse.Mount(dir, opts...)
	log.SetOutput(c.w)
	if err != nil {
		if lines := c.helperLines(); len(lines) > 0 {
			return nil, &HelperError{Lines: lines, Err: err}
		}
	}
	return conn, err
}

// helperCapture passes the standard logger's output on to w and keeps it.
type helperCapture struct {
	mu  sync.Mutex // separates the loggers of the helper's stdout and stderr
	w   io.Writer
	buf bytes.Buffer
}

func (c *helperCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.buf.Len() < 64<<10 {
		c.buf.Write(p)
	}
	c.mu.Unlock()
	return c.w.Write(p)
}

// helperLines returns the helper's stderr lines, without the log prefix.
func (c *helperCapture) helperLines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, line := range strings.Split(c.buf.String(), "\n") {
		if _, msg, ok := strings.Cut(line, helperPrefix); ok && strings.TrimSpace(msg) != "" {
			out = append(out, strings.TrimSpace(msg))
		}
	}
	return out
}
