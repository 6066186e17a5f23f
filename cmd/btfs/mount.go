package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/btfs/btfs/cache/disk"
	btfs "github.com/btfs/btfs/fs"
	"github.com/btfs/btfs/swarm"
	"github.com/btfs/btfs/swarm/metainfo"
)

func cmdMount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runMount(ctx, args, stdout, stderr, nil)
}

// runMount mounts and serves until unmounted. With env it runs inside the
// user's btfs process, sharing env.rt with that process's other mounts;
// without it, a background mount (no -f) is handed to that process.
func runMount(ctx context.Context, args []string, stdout, stderr io.Writer, env *mountEnv) (err error) {
	fs := flag.NewFlagSet("mount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf netFlags
	nf.register(fs)
	memCache := sizeFlag{n: 256 << 20, unit: 1 << 20}
	fs.Var(&memCache, "memory-cache", "memory cache `SIZE` (MiB, or with a K/M/G suffix)")
	cacheSize := sizeFlag{n: 10 << 30, unit: 1 << 20}
	fs.Var(&cacheSize, "cache-size", "disk cache budget across all torrents, `SIZE` (MiB, or K/M/G/T); 0 disables the disk cache")
	cacheDir := fs.String("cache-dir", defaultCacheDir(), "disk cache `DIR`")
	readahead := fs.Int64("readahead", 32, "most bytes fetched ahead of each open file, in `MiB` (the window grows to it on sequential reads)")
	prefetch := fs.String("prefetch", "window", "what to fetch besides reads, `MODE`: none, window (readahead + media head/tail) or all (the whole torrent when idle)")
	allowOther := fs.Bool("allow-other", false, "let other users read the mount (needs user_allow_other in /etc/fuse.conf)")
	var foreground bool
	fs.BoolVar(&foreground, "f", false, "stay in the foreground (default: return once the mount is live and keep serving in the background)")
	fs.BoolVar(&foreground, "foreground", false, "same as -f")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics (/metrics) and pprof (/debug/pprof/) on `ADDR`, e.g. 127.0.0.1:9100 (off by default)")
	logFile := fs.String("log-file", "", "background mode: append the mount's log to `FILE` (default: CACHE-DIR/logs/ID.log)")
	fs.StringVar(cacheDir, "data-directory", *cacheDir, "same as --cache-dir (C++ btfs compatibility)")
	fs.Bool("keep", true, "C++ btfs compatibility: downloaded data is always kept in the disk cache (see --cache-dir), so this changes nothing")
	allowNonEmpty := fs.Bool("allow-non-empty", false, "mount over a directory that is not empty (its contents are hidden while mounted)")
	browseOnly := fs.Bool("browse-only", false, "show the files but never download: reads fail with EIO")
	readTimeout := fs.Duration("read-timeout", 0, "fail a read with EIO once it has waited `D` for data, e.g. 30s (0: wait as long as it takes, as a hard NFS mount does)")
	minPort := fs.Int("min-port", 0, "with --max-port: listen on the first free port in [min-port, max-port]")
	maxPort := fs.Int("max-port", 0, "see --min-port")
	var fuseOpts mountOpts
	fs.Var(&fuseOpts, "o", "comma-separated mount `OPTIONS`: allow_other, nonempty (= --allow-non-empty); ro and default_permissions are accepted and ignored")
	hide(fs, "keep", "data-directory") // C++ btfs compatibility
	pos, err := parse(fs, args, "TORRENT|MAGNET|DIR", "MOUNTPOINT")
	if err != nil {
		return err
	}
	if fuseOpts.allowOther {
		*allowOther = true
	}
	if fuseOpts.nonEmpty {
		*allowNonEmpty = true
	}
	if !foreground && env == nil {
		abs := map[string]string{}
		if d, err := filepath.Abs(pos[1]); err == nil {
			abs[pos[1]] = d
		}
		if _, err := os.Stat(pos[0]); err == nil {
			if d, err := filepath.Abs(pos[0]); err == nil {
				abs[pos[0]] = d
			}
		}
		if d, err := filepath.Abs(*cacheDir); err == nil {
			*cacheDir = d
			args = append(args, "--cache-dir", d) // the last one wins
		}
		lf := *logFile
		if lf == "" {
			lf = filepath.Join(*cacheDir, "logs", mountID(abs[pos[1]], 12)+".log")
		} else if d, err := filepath.Abs(lf); err == nil {
			lf = d
		}
		if err := os.MkdirAll(filepath.Dir(lf), 0o755); err != nil {
			return fmt.Errorf("log directory: %w", err)
		}
		return viaDaemon(args, abs, *cacheDir, lf, stdout, stderr)
	}
	if env == nil {
		// A foreground mount: the client, memory budget and disk cache
		// are its own.
		rt := &sharedRuntime{}
		defer rt.close()
		env = &mountEnv{notify: &notifier{}, rt: rt}
	}
	notify := env.notify
	defer func() {
		if err != nil {
			err = mountHint(err, *allowOther)
			notify.fail(err)
		}
	}()
	if *minPort != 0 || *maxPort != 0 {
		p, perr := freePort(nf.bind, *minPort, *maxPort)
		if perr != nil {
			return perr
		}
		nf.port = p
	}
	log, err := newLogger(stderr, nf.logLevel)
	if err != nil {
		return err
	}
	if memCache.n <= 0 {
		return fmt.Errorf("--memory-cache must be positive")
	}
	if *readTimeout < 0 {
		return fmt.Errorf("--read-timeout must not be negative")
	}
	pf, err := swarm.ParsePrefetch(*prefetch)
	if err != nil {
		return err
	}
	if *browseOnly {
		pf = swarm.PrefetchNone
	}
	cleanStaleMount(pos[1], log)
	if !*allowNonEmpty {
		if err := checkEmpty(pos[1]); err != nil {
			return err
		}
	}
	if st, err := os.Stat(pos[0]); err == nil && st.IsDir() {
		// A library: every .torrent and .magnet file in the directory.
		return mountLibrary(ctx, libraryConfig{
			src: pos[0], dir: pos[1], nf: &nf, memCache: memCache.n, cacheSize: cacheSize.n, cacheDir: *cacheDir,
			readahead: *readahead, prefetch: pf, browseOnly: *browseOnly, allowOther: *allowOther, log: log,
			readTimeout: *readTimeout, env: env,
		}, stdout)
	}
	src, err := openSource(ctx, pos[0])
	if err != nil {
		return err
	}
	stopProfile, err := nf.startProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	dir := pos[1]
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("mountpoint %s is not a directory", dir)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if m, ok := findMount(dir); ok {
		return fmt.Errorf("mountpoint %s is busy: already a %s mount", dir, m.fstype)
	}
	srv, err := listenStatus(dir)
	switch {
	case errors.Is(err, errBusy):
		return err
	case err != nil:
		// The mount works without it; only `btfs status` and `btfs
		// unmount`'s wait need the socket.
		log.Warn("no status socket", "err", err)
	default:
		defer srv.Close()
		srv.logFile, srv.daemon = env.logFile, env.sock
	}

	// The client, the memory budget and the disk cache are the runtime's:
	// the user's btfs process shares them among its mounts.
	cl, err := env.rt.client(&nf, log, *cacheDir)
	if err != nil {
		return err
	}
	progress := func(st swarm.MetadataStatus) {
		srv.metadataPhase(src.mg, st)
		notify.progress(metadataLine(st))
		if stderrIsTerminal(stderr) {
			fmt.Fprintf(stderr, "\r\033[K%s", metadataLine(st))
		}
	}
	began := time.Now()
	mi, met, err := nf.resolveMetadata(ctx, cl, src, *cacheDir, progress)
	if src.mi == nil && stderrIsTerminal(stderr) {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	if src.mi == nil {
		fmt.Fprintf(stdout, "metadata of %s in %.3f s\n", mi.Info.Name, time.Since(began).Seconds())
	}
	var dt *disk.Torrent
	if cacheSize.n > 0 {
		dc, err := env.rt.disk(ctx, disk.Options{Dir: *cacheDir, MaxBytes: cacheSize.n, Logger: log})
		switch {
		case errors.Is(err, disk.ErrLocked):
			log.Warn("disk cache in use by another btfs process; caching in memory only", "dir", *cacheDir)
		case err != nil:
			return fmt.Errorf("disk cache: %w", err)
		default:
			dt, err = dc.Torrent(mi.InfoHash, disk.Meta{Name: mi.Info.Name, PieceLength: mi.Info.PieceLength, Length: mi.Info.Length, Hashes: mi.Info.Pieces})
			if err != nil {
				return fmt.Errorf("disk cache: %w", err)
			}
			defer dt.Close()
		}
	}
	// One byte budget, the memory cache's: it holds verified pieces and
	// is charged for the buffers of pieces downloading, hashing and
	// storing, at most the backlog of them (a quarter of the cache, at
	// most 64 MiB). The process limit adds a little for everything else;
	// a soft limit makes Go's GC work harder as the process approaches it
	// instead of doubling the heap.
	backlog := min(64<<20, memCache.n/4)
	pieces := env.rt.memory(memCache.n).Pieces(mi.InfoHash, dt, mi.Info.Layout().PieceSize)
	t, err := cl.AddTorrent(mi, pieces, swarm.TorrentOptions{
		Peers: append(met, nf.peers...), Readahead: min(*readahead<<20, memCache.n/4), Prefetch: pf, Backlog: backlog,
	})
	if err != nil {
		return err
	}
	mtime := mi.CreationDate
	if mtime.IsZero() {
		mtime = time.Now()
	}
	srv.serve(t, mi, pieces)
	if !*browseOnly && stderrIsTerminal(stderr) {
		go progressLine(t, t.Done(), stderr, srv.rates)
	}
	m := &metrics{}
	if *metricsAddr != "" {
		mctx, stop := context.WithCancel(context.Background())
		defer stop()
		if err := serveMetrics(mctx, *metricsAddr, t, m, log); err != nil {
			t.Close()
			return err
		}
	}
	fsys := btfs.New(&mi.Info, fsTorrent{t, *browseOnly, m}, btfs.Options{
		Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), MTime: mtime, Logger: log, ReadTimeout: *readTimeout,
	})

	// On a signal the unmount (which fails the reads in flight at once)
	// and the engine's stop (which waits, bounded, for its trackers'
	// stopped announces) run side by side, neither holding up the other.
	mctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	closed := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "unmounting")
		case <-mctx.Done():
		}
		cancel()
		t.Close()
		close(closed)
	}()
	ready := make(chan struct{})
	go func() {
		select {
		case <-ready:
			fmt.Fprintf(stdout, "mounted %s at %s (port %d)\n", mi.Info.Name, dir, cl.Port())
			notify.ok(fmt.Sprintf("mounted %s at %s", mi.Info.Name, dir))
		case <-mctx.Done():
		}
	}()
	err = btfs.Mount(mctx, dir, fsys, btfs.MountOptions{FSName: "btfs", AllowOther: *allowOther}, ready)
	cancel()
	<-closed
	if err != nil {
		return err // "mount DIR: ..." already
	}
	s := t.Stats()
	fmt.Fprintf(stdout, "unmounted %s: downloaded %d bytes, uploaded %d bytes\n", dir, s.Downloaded, s.Uploaded)
	return nil
}

// fsTorrent adapts a swarm.Torrent to what the fs package needs.
type fsTorrent struct {
	t          *swarm.Torrent
	browseOnly bool
	m          *metrics
}

func (a fsTorrent) NewReader(f metainfo.File) btfs.Reader {
	if a.browseOnly {
		return noReader{}
	}
	return measuredReader{r: a.t.NewReader(f), m: a.m}
}

// errBrowseOnly fails every read of a --browse-only mount (the kernel
// sees EIO).
var errBrowseOnly = errors.New("browse-only mount: file contents are not downloaded")

type noReader struct{}

func (noReader) ReadAt(context.Context, []byte, int64) (int, error) { return 0, errBrowseOnly }
func (noReader) Close() error                                       { return nil }

// mountOpts is the -o flag: FUSE-style comma-separated options.
type mountOpts struct {
	raw        []string
	allowOther bool
	nonEmpty   bool
}

func (m *mountOpts) String() string { return strings.Join(m.raw, ",") }

func (m *mountOpts) Set(v string) error {
	for _, o := range strings.Split(v, ",") {
		switch o = strings.TrimSpace(o); o {
		case "":
		case "allow_other":
			m.allowOther = true
		case "nonempty":
			m.nonEmpty = true
		case "ro", "default_permissions":
		default:
			return fmt.Errorf("unknown mount option %q (known: allow_other, nonempty, ro, default_permissions)", o)
		}
		m.raw = append(m.raw, o)
	}
	return nil
}

// freePort returns the first port in [lo, hi] that bind can listen on.
func freePort(bind string, lo, hi int) (int, error) {
	if lo <= 0 || hi < lo || hi > 65535 {
		return 0, fmt.Errorf("--min-port %d --max-port %d: want 1 <= min-port <= max-port <= 65535", lo, hi)
	}
	for p := lo; p <= hi; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in %d-%d", lo, hi)
}

// startCPUProfile profiles until the returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// cleanStaleMount lazily unmounts a btfs mount on dir whose process is
// gone (it crashed or was killed): such a mount only answers "transport
// endpoint is not connected" and would make the mountpoint look busy. A
// mount whose process answers on its status socket is left alone.
func cleanStaleMount(dir string, log *slog.Logger) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	m, ok := findMount(abs)
	if !ok || m.fstype != btfsFSType || statusAnswers(abs) {
		return
	}
	if out, err := exec.Command("fusermount3", "-u", "-z", abs).CombinedOutput(); err != nil {
		log.Warn("a btfs mount left by a process that died could not be unmounted", "dir", abs, "err", err,
			"output", strings.TrimSpace(string(out)))
		return
	}
	log.Warn("unmounted a btfs mount left by a process that died", "dir", abs)
}
