package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemonEnv marks the background child of `btfs mount`; its value is the
// number of the file descriptor on which the child reports readiness.
const daemonEnv = "BTFS_DAEMON_READY_FD"

// maxLogSize is the size above which a mount's log file is rotated at start.
const maxLogSize = 10 << 20

// mountID is a short stable name for a mountpoint: hex of its path's SHA-1.
func mountID(absDir string, n int) string {
	h := sha1.Sum([]byte(absDir))
	return hex.EncodeToString(h[:])[:n]
}

// daemonize re-executes btfs in the foreground with stdout and stderr going
// to a log file, waits until the child reports the mount live or failed,
// and returns.
func daemonize(args []string, dir, cacheDir, logFile string, stdout, stderr io.Writer) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	}
	if logFile == "" {
		logFile = filepath.Join(cacheDir, "logs", mountID(abs, 12)+".log")
	}
	logf, err := openLog(logFile)
	if err != nil {
		return err
	}
	defer logf.Close()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("readiness pipe: %w", err)
	}
	defer pr.Close()
	cmd := exec.Command(exe, append([]string{"mount", "-f"}, args...)...)
	cmd.Env = append(os.Environ(), daemonEnv+"=3", logFileEnv+"="+logFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return fmt.Errorf("start background mount: %w", err)
	}
	pw.Close()
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	// Progress lines (a magnet's metadata fetch) come first; then one
	// line with the outcome.
	br := bufio.NewReader(pr)
	tty := stderrIsTerminal(stderr)
	line, rerr := br.ReadString('\n')
	for strings.HasPrefix(line, "progress: ") && rerr == nil {
		if tty {
			fmt.Fprintf(stderr, "\r\033[K%s", strings.TrimSpace(strings.TrimPrefix(line, "progress: ")))
		}
		line, rerr = br.ReadString('\n')
	}
	if tty {
		fmt.Fprint(stderr, "\r\033[K")
	}
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "mounted "):
		fmt.Fprintln(stdout, line)
		return nil
	case strings.HasPrefix(line, "error: "):
		// The child exits on its own after reporting; wait briefly so
		// nothing it set up outlives us.
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
		return errors.New(strings.TrimPrefix(line, "error: "))
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
	}
	return fmt.Errorf("background mount exited without reporting (%v); see %s", rerr, logFile)
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

// notifier reports the mount's progress, then its outcome once, to a
// waiting parent.
type notifier struct {
	mu   sync.Mutex // separates progress callbacks from the final send
	once sync.Once
	f    *os.File // nil in the foreground or once the outcome is sent
}

// readyNotifier returns the notifier for this process: live when started
// by daemonize, a no-op otherwise.
func readyNotifier() *notifier {
	n := &notifier{}
	if v := os.Getenv(daemonEnv); v != "" {
		var fd int
		if _, err := fmt.Sscan(v, &fd); err == nil && fd > 2 {
			n.f = os.NewFile(uintptr(fd), "ready")
		}
		os.Unsetenv(daemonEnv)
	}
	return n
}

func (n *notifier) send(line string) {
	n.once.Do(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.f == nil {
			return
		}
		fmt.Fprintln(n.f, strings.ReplaceAll(line, "\n", " "))
		n.f.Close()
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
