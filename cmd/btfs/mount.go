package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/btfs/btfs/cache"
	"github.com/btfs/btfs/cache/disk"
	btfs "github.com/btfs/btfs/fs"
	"github.com/btfs/btfs/swarm"
	"github.com/btfs/btfs/swarm/metainfo"
)

func cmdMount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	prefetch := fs.String("prefetch", "window", "what to fetch besides reads: none, window (readahead + media head/tail) or all (the whole torrent when idle)")
	allowOther := fs.Bool("allow-other", false, "let other users read the mount (needs user_allow_other in /etc/fuse.conf)")
	pos, err := parse(fs, args, "FILE.torrent", "MOUNTPOINT")
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, nf.logLevel)
	if err != nil {
		return err
	}
	if memCache.n <= 0 {
		return fmt.Errorf("--memory-cache must be positive")
	}
	pf, err := swarm.ParsePrefetch(*prefetch)
	if err != nil {
		return err
	}
	mi, err := metainfo.Load(pos[0])
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

	cfg := nf.config()
	cfg.Logger = log
	cl, err := swarm.NewClient(cfg)
	if err != nil {
		return err
	}
	var dt *disk.Torrent
	if cacheSize.n > 0 {
		dc, err := disk.Open(ctx, disk.Options{Dir: *cacheDir, MaxBytes: cacheSize.n, Logger: log})
		switch {
		case errors.Is(err, disk.ErrLocked):
			log.Warn("disk cache in use by another btfs process; caching in memory only", "dir", *cacheDir)
		case err != nil:
			cl.Close()
			return fmt.Errorf("disk cache: %w", err)
		default:
			defer dc.Close()
			dt, err = dc.Torrent(mi.InfoHash, disk.Meta{Name: mi.Info.Name, PieceLength: mi.Info.PieceLength, Length: mi.Info.Length, Hashes: mi.Info.Pieces})
			if err != nil {
				cl.Close()
				return fmt.Errorf("disk cache: %w", err)
			}
			defer dt.Close()
		}
	}
	// Keep the heap near the memory cache: a soft limit makes Go's GC work
	// harder as the process approaches it instead of doubling the heap.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memCache.n + memCache.n/4 + 96<<20)
	}
	pieces := cache.New(memCache.n).Pieces(mi.InfoHash, dt, mi.Info.Layout().PieceSize)
	t, err := cl.AddTorrent(mi, pieces, swarm.TorrentOptions{
		Peers: nf.peers, Readahead: min(*readahead<<20, memCache.n/4), Prefetch: pf,
	})
	if err != nil {
		cl.Close()
		return err
	}
	mtime := mi.CreationDate
	if mtime.IsZero() {
		mtime = time.Now()
	}
	fsys := btfs.New(&mi.Info, fsTorrent{t}, btfs.Options{
		Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), MTime: mtime, Logger: log,
	})

	// The engine stops first, so reads blocked on the swarm fail at once
	// and the unmount that follows is not held up by them.
	mctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	closed := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "unmounting")
		case <-mctx.Done():
		}
		cl.Close()
		close(closed)
		cancel()
	}()
	ready := make(chan struct{})
	go func() {
		select {
		case <-ready:
			fmt.Fprintf(stdout, "mounted %s at %s (port %d)\n", mi.Info.Name, dir, cl.Port())
		case <-mctx.Done():
		}
	}()
	err = btfs.Mount(mctx, dir, fsys, btfs.MountOptions{FSName: "btfs", AllowOther: *allowOther}, ready)
	cancel()
	<-closed
	if err != nil {
		return fmt.Errorf("mount %s: %w", dir, err)
	}
	s := t.Stats()
	fmt.Fprintf(stdout, "unmounted %s: downloaded %d bytes, uploaded %d bytes\n", dir, s.Downloaded, s.Uploaded)
	return nil
}

// fsTorrent adapts a swarm.Torrent to what the fs package needs.
type fsTorrent struct{ t *swarm.Torrent }

func (a fsTorrent) NewReader(f metainfo.File) btfs.Reader { return a.t.NewReader(f) }

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
