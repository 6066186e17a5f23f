package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/btfs/btfs/cache"
	btfs "github.com/btfs/btfs/fs"
	"github.com/btfs/btfs/swarm"
	"github.com/btfs/btfs/swarm/metainfo"
)

func cmdMount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf netFlags
	nf.register(fs)
	memCache := fs.Int64("memory-cache", 256, "memory cache size in `MiB`")
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
	if *memCache <= 0 {
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
	store := cache.New(*memCache << 20)
	t, err := cl.AddTorrent(mi, swarm.NewMemoryStorage(store, mi.InfoHash), swarm.TorrentOptions{
		Peers: nf.peers, Readahead: min(*readahead<<20, *memCache<<20/4), Prefetch: pf,
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
