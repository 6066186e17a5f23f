package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/btfs/btfs/cache"
	"github.com/btfs/btfs/cache/disk"
	"github.com/btfs/btfs/swarm"
)

// One btfs process per user and cache directory serves every background
// mount: `btfs mount` hands its mount to it over a control socket
// (starting it when absent) and returns once the mount is live; the
// process exits when its last mount is gone. Its mounts share one client
// (listen port, DHT node, peer budget), one memory budget and one disk
// cache. Foreground mounts (-f) keep a process of their own.

// mountRequest is what `btfs mount` sends the user's btfs process: its
// arguments (paths made absolute) and its log file.
type mountRequest struct {
	Args    []string `json:"args"`
	LogFile string   `json:"log_file"`
	// Clear, instead of a mount: `btfs cache clear` of the process's disk
	// cache (["--all"] or [INFOHASH]); torrents mounted now are kept.
	Clear []string `json:"clear,omitempty"`
}

// errNoDaemon: no btfs process serves the cache directory.
var errNoDaemon = errors.New("no btfs process serves this cache directory")

// clearViaDaemon asks the user's btfs process for cacheDir to clear its
// disk cache (args: ["--all"] or [INFOHASH]).
func clearViaDaemon(cacheDir string, args []string) error {
	conn, err := net.DialTimeout("unix", daemonSocket(cacheDir), time.Second)
	if err != nil {
		return errNoDaemon
	}
	defer conn.Close()
	if len(args) == 0 {
		args = []string{"--all"}
	}
	b, _ := json.Marshal(mountRequest{Clear: args})
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("ask the btfs process to clear the cache: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("ask the btfs process to clear the cache: %w", err)
	}
	if msg, ok := strings.CutPrefix(strings.TrimSpace(line), "error: "); ok {
		return errors.New(msg)
	}
	return nil
}

// serveClear clears the process's disk cache as asked.
func serveClear(rt *sharedRuntime, c net.Conn, args []string) {
	defer c.Close()
	rt.mu.Lock()
	dc := rt.dc
	rt.mu.Unlock()
	var err error
	switch {
	case dc == nil:
		err = errors.New("the btfs process has no disk cache open")
	case len(args) == 1 && args[0] == "--all":
		err = dc.RemoveAll()
	case len(args) == 1:
		var b []byte
		if b, err = hex.DecodeString(args[0]); err == nil && len(b) == 20 {
			err = dc.Remove([20]byte(b))
		} else {
			err = fmt.Errorf("info-hash %q: want 40 hex digits", args[0])
		}
	default:
		err = fmt.Errorf("clear %q: want --all or one info-hash", args)
	}
	if err != nil {
		fmt.Fprintf(c, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	fmt.Fprintln(c, "ok")
}

// daemonSocket is the control socket of the btfs process for cacheDir.
func daemonSocket(cacheDir string) string {
	abs, err := filepath.Abs(cacheDir)
	if err != nil {
		abs = cacheDir
	}
	// Not *.sock: those are mounts' status sockets, which `btfs status`
	// queries one by one.
	return filepath.Join(filepath.Dir(socketPath("/")), "daemon-"+mountID(abs, 16)+".ctl")
}

// viaDaemon hands a mount to the user's btfs process, starting it if
// needed, and waits for the outcome as daemonize did for a child.
func viaDaemon(args []string, abs map[string]string, cacheDir, logFile string, stdout, stderr io.Writer) error {
	sock := daemonSocket(cacheDir)
	conn, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		if conn, err = startDaemon(sock, cacheDir); err != nil {
			return err
		}
	}
	defer conn.Close()
	req := mountRequest{LogFile: logFile}
	for _, a := range args {
		if v, ok := abs[a]; ok {
			a = v
		}
		req.Args = append(req.Args, a)
	}
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("hand the mount to the btfs process (%s): %w", sock, err)
	}
	err = awaitOutcome(conn, stdout, stderr, func() error {
		return fmt.Errorf("the btfs process closed the connection without an outcome; see %s", logFile)
	})
	if err != nil {
		// The process closes the connection once the failed mount let go
		// of everything (and, if it was its only one, once it exited).
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(io.Discard, conn)
	}
	return err
}

// startDaemon starts the user's btfs process for cacheDir and connects to
// it once it listens.
func startDaemon(sock, cacheDir string) (net.Conn, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	logFile := filepath.Join(cacheDir, "logs", "btfs.log")
	logf, err := openLog(logFile)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, "mount-daemon", "--cache-dir", cacheDir)
	cmd.Dir = "/" // keep no directory busy; paths in requests are absolute
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the btfs process: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			return conn, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("the btfs process exited at start (%v); see %s", err, logFile)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the btfs process does not listen on %s after 10 s; see %s", sock, logFile)
		}
	}
}

// sharedRuntime is what the mounts of one btfs process share: made by the
// first mount that needs each part (with its flags), closed at exit.
type sharedRuntime struct {
	mu    sync.Mutex
	cl    *swarm.Client
	store *cache.Store
	dc    *disk.Cache
	dcErr error // disk opened and failed (dc and dcErr both nil: not opened yet)
	// lockWait is how long disk waits for a lock another process holds.
	lockWait time.Duration
}

func (rt *sharedRuntime) client(nf *netFlags, log *slog.Logger, cacheDir string) (*swarm.Client, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.cl == nil {
		cl, err := nf.newClient(log, cacheDir)
		if err != nil {
			return nil, err
		}
		rt.cl = cl
	}
	return rt.cl, nil
}

func (rt *sharedRuntime) memory(n int64) *cache.Store {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.store == nil {
		rt.store = cache.New(n)
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(n + 40<<20)
		}
	}
	return rt.store
}

func (rt *sharedRuntime) disk(ctx context.Context, opts disk.Options) (*disk.Cache, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.dc == nil && rt.dcErr == nil {
		rt.dc, rt.dcErr = disk.Open(ctx, opts)
		for deadline := time.Now().Add(rt.lockWait); errors.Is(rt.dcErr, disk.ErrLocked) && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			rt.dc, rt.dcErr = disk.Open(ctx, opts)
		}
	}
	return rt.dc, rt.dcErr
}

func (rt *sharedRuntime) close() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.cl != nil {
		rt.cl.Close()
	}
	if rt.dc != nil {
		rt.dc.Close()
	}
}

// daemonIdle is how long the btfs process waits for its first mount.
const daemonIdle = 30 * time.Second

// cmdMountDaemon is the user's btfs process (`btfs mount-daemon`, started
// by `btfs mount`): it serves mounts handed to it on its control socket and
// exits when the last one is gone.
func cmdMountDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mount-daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cacheDir := fs.String("cache-dir", defaultCacheDir(), "disk cache `DIR`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sock := daemonSocket(*cacheDir)
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	if answers(sock) {
		return nil // another one serves this cache directory
	}
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	// A process for this cache that is exiting (its last mount just went)
	// lets go of the disk cache's lock within moments.
	rt := &sharedRuntime{lockWait: 3 * time.Second}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	active := 0
	// The connection of the last mount stays open until this process has
	// let go of everything: its `btfs mount` waits for that after a
	// failure, so nothing it started outlives it.
	var last []net.Conn
	idle := time.AfterFunc(daemonIdle, func() { ln.Close() })
	defer idle.Stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		var req mountRequest
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadBytes('\n')
		if err != nil || json.Unmarshal(line, &req) != nil || len(req.Args) == 0 && len(req.Clear) == 0 {
			c.Close() // a liveness probe, or garbage
			continue
		}
		if len(req.Clear) > 0 {
			serveClear(rt, c, req.Clear)
			continue
		}
		_ = c.SetReadDeadline(time.Time{})
		mu.Lock()
		active++
		idle.Stop()
		mu.Unlock()
		wg.Go(func() {
			serveHandedMount(dctx, rt, c, req, sock, stderr)
			mu.Lock()
			defer mu.Unlock()
			active--
			if active == 0 {
				ln.Close() // the last mount is gone: stop taking new ones and exit
				last = append(last, c)
			} else {
				c.Close()
			}
		})
	}
	wg.Wait()
	rt.close()
	ln.Close()
	_ = os.Remove(sock)
	_ = os.Remove(filepath.Dir(sock)) // fails while not empty
	// The last connections close as the process exits: only then does
	// their `btfs mount` return.
	runtime.KeepAlive(last)
	return nil
}

// serveHandedMount runs one mount in this process until it is unmounted.
func serveHandedMount(ctx context.Context, rt *sharedRuntime, c net.Conn, req mountRequest, sock string, stderr io.Writer) {
	n := connNotifier(c)
	defer n.send("error: the mount ended before it was live") // no-op once the outcome was sent
	var out io.Writer = stderr
	if req.LogFile != "" {
		if rl, err := newRotatingLog(req.LogFile, maxLogSize); err == nil {
			out = rl
			defer rl.Close()
		}
	}
	err := runMount(ctx, req.Args, out, out, &mountEnv{notify: n, rt: rt, logFile: req.LogFile, sock: sock})
	if err != nil {
		fmt.Fprintf(out, "btfs mount: %v\n", err)
	}
}

// mountEnv is what a mount run inside the user's btfs process gets: where
// to report its outcome, and what it shares with the others.
type mountEnv struct {
	notify  *notifier
	rt      *sharedRuntime
	logFile string
	sock    string // the process's control socket
}

// awaitOutcome reads progress lines, then the outcome ("mounted ..." or
// "error: ..."), from a mount being started.
func awaitOutcome(r io.Reader, stdout, stderr io.Writer, noOutcome func() error) error {
	br := bufio.NewReader(r)
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
		return errors.New(strings.TrimPrefix(line, "error: "))
	}
	return noOutcome()
}
