package main

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// maxLogSize is the size above which a mount's log file is rotated at start.
const maxLogSize = 10 << 20

// mountID is a short stable name for a mountpoint: hex of its path's SHA-1.
func mountID(absDir string, n int) string {
	h := sha1.Sum([]byte(absDir))
	return hex.EncodeToString(h[:])[:n]
}

// openLog opens path for appending, first renaming it to path.1 if it has
// grown past maxLogSize.
func openLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Size() > maxLogSize {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("rotate log: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// notifier reports a mount's progress, then its outcome once, to the
// `btfs mount` waiting for it on the user's btfs process's control
// connection (which that process closes when the mount has ended). The
// zero value, a foreground mount's, reports nothing.
type notifier struct {
	mu   sync.Mutex // separates progress callbacks from the final send
	once sync.Once
	f    io.Writer // nil in the foreground or once the outcome is sent
}

// connNotifier reports over a control connection.
func connNotifier(c io.Writer) *notifier { return &notifier{f: c} }

func (n *notifier) send(line string) {
	n.once.Do(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.f == nil {
			return
		}
		fmt.Fprintln(n.f, strings.ReplaceAll(line, "\n", " "))
		n.f = nil
	})
}

// progress passes one line of progress to the parent, which shows it on
// its terminal while it waits.
func (n *notifier) progress(line string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.f != nil {
		fmt.Fprintln(n.f, "progress: "+strings.ReplaceAll(line, "\n", " "))
	}
}

func (n *notifier) ok(line string) { n.send(line) }
func (n *notifier) fail(err error) { n.send("error: " + err.Error()) }
