package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/btfs/btfs/cache"
	"github.com/btfs/btfs/cache/disk"
	btfs "github.com/btfs/btfs/fs"
	"github.com/btfs/btfs/swarm"
	"github.com/btfs/btfs/swarm/metainfo"
)

// libraryScanEvery is how often a library's directory is listed for
// torrents added, changed or removed. Polling (not inotify) keeps to the
// standard library, works on network file systems where inotify does not,
// and lets a change show within a second, well inside the 2 s promised.
const libraryScanEvery = 500 * time.Millisecond

// libraryConfig is what a library mount needs of cmdMount's flags.
type libraryConfig struct {
	src, dir            string // the directory of .torrent/.magnet files; the mountpoint
	nf                  *netFlags
	memCache, cacheSize int64
	cacheDir            string
	readahead           int64
	prefetch            swarm.Prefetch
	browseOnly          bool
	allowOther          bool
	readTimeout         time.Duration
	env                 *mountEnv // the runtime, the outcome's notifier, log and control socket
	log                 *slog.Logger
}

// libTorrent is one torrent of a library: the file it came from and what
// serves it.
type libTorrent struct {
	path   string
	mod    time.Time
	size   int64
	name   string // shown at the top level
	mi     *metainfo.MetaInfo
	t      *swarm.Torrent
	dt     *disk.Torrent
	pieces *cache.Pieces
}

// library runs a library mount: one client, one memory budget and one disk
// cache for every torrent in the directory, which is watched.
type library struct {
	cfg   libraryConfig
	cl    *swarm.Client
	store *cache.Store
	dc    *disk.Cache // nil: no disk cache
	lib   *btfs.Library
	m     *metrics

	mu       sync.Mutex
	torrents map[string]*libTorrent // by file path
	bad      map[string]time.Time   // files that did not load, by mtime (warned once)
	fetching map[string]bool        // magnet files whose metadata is on its way
}

func mountLibrary(ctx context.Context, cfg libraryConfig, stdout io.Writer) error {
	log := cfg.log
	dir, err := filepath.Abs(cfg.dir)
	if err != nil {
		return err
	}
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("mountpoint %s is not a directory", dir)
	}
	if m, ok := findMount(dir); ok {
		return fmt.Errorf("mountpoint %s is busy: already a %s mount", dir, m.fstype)
	}
	src, err := filepath.Abs(cfg.src)
	if err != nil {
		return err
	}
	srv, err := listenStatus(dir)
	switch {
	case errors.Is(err, errBusy):
		return err
	case err != nil:
		log.Warn("no status socket", "err", err)
	default:
		defer srv.Close()
		srv.logFile, srv.daemon = cfg.env.logFile, cfg.env.sock
	}
	rt := cfg.env.rt
	cl, err := rt.client(cfg.nf, log, cfg.cacheDir)
	if err != nil {
		return err
	}
	l := &library{cfg: cfg, cl: cl, store: rt.memory(cfg.memCache), m: &metrics{},
		torrents: map[string]*libTorrent{}, bad: map[string]time.Time{}, fetching: map[string]bool{}}
	if cfg.cacheSize > 0 {
		dc, err := rt.disk(ctx, disk.Options{Dir: cfg.cacheDir, MaxBytes: cfg.cacheSize, Logger: log})
		switch {
		case errors.Is(err, disk.ErrLocked):
			log.Warn("disk cache in use by another btfs process; caching in memory only", "dir", cfg.cacheDir)
		case err != nil:
			return fmt.Errorf("disk cache: %w", err)
		default:
			l.dc = dc
		}
	}
	fsys, lib := btfs.NewLibrary(btfs.Options{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), Logger: log, ReadTimeout: cfg.readTimeout})
	l.lib = lib
	if srv != nil {
		f := func() mountStatus { return l.status(dir, src) }
		srv.answer.Store(&f)
		srv.accept()
	}

	mctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.scan(ctx, src) // what is there at start is there when the mount goes live
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(libraryScanEvery)
		defer tick.Stop()
		for {
			select {
			case <-mctx.Done():
				return
			case <-tick.C:
				l.scan(mctx, src)
			}
		}
	})
	closed := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "unmounting")
		case <-mctx.Done():
		}
		cancel()
		wg.Wait()
		l.closeAll()
		close(closed)
	}()
	ready := make(chan struct{})
	go func() {
		select {
		case <-ready:
			n := len(lib.Names())
			fmt.Fprintf(stdout, "mounted library %s at %s (%d torrents, port %d)\n", src, dir, n, cl.Port())
			cfg.env.notify.ok(fmt.Sprintf("mounted library %s at %s (%d torrents)", src, dir, n))
		case <-mctx.Done():
		}
	}()
	err = btfs.Mount(mctx, dir, fsys, btfs.MountOptions{FSName: "btfs", AllowOther: cfg.allowOther}, ready)
	cancel()
	<-closed
	if err != nil {
		return fmt.Errorf("mount %s: %w", dir, err)
	}
	fmt.Fprintf(stdout, "unmounted %s\n", dir)
	return nil
}

// scan lists the library's directory and adds, replaces or removes
// torrents to match it.
func (l *library) scan(ctx context.Context, src string) {
	es, err := os.ReadDir(src)
	if err != nil {
		l.cfg.log.Warn("library: list", "dir", src, "err", err)
		return
	}
	seen := map[string]bool{}
	for _, e := range es {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if e.IsDir() || ext != ".torrent" && ext != ".magnet" || strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(src, name)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		seen[p] = true
		l.mu.Lock()
		cur, bad, fetching := l.torrents[p], l.bad[p], l.fetching[p]
		l.mu.Unlock()
		switch {
		case fetching:
		case cur != nil && cur.mod.Equal(fi.ModTime()) && cur.size == fi.Size():
		case cur == nil && bad.Equal(fi.ModTime()):
		default:
			if cur != nil {
				l.remove(p)
			}
			l.load(ctx, p, fi)
		}
	}
	l.mu.Lock()
	var gone []string
	for p := range l.torrents {
		if !seen[p] {
			gone = append(gone, p)
		}
	}
	for p := range l.bad {
		if !seen[p] {
			delete(l.bad, p)
		}
	}
	l.mu.Unlock()
	for _, p := range gone {
		l.remove(p)
	}
}

// load reads one library file: a .torrent at once; a magnet link from the
// kept metadata, or from peers in the background.
func (l *library) load(ctx context.Context, p string, fi os.FileInfo) {
	mi, mg, err := metainfo.LoadSource(p)
	if err == nil && mi == nil && mg != nil {
		if mi = cachedMetadata(l.cfg.cacheDir, mg); mi == nil {
			l.mu.Lock()
			l.fetching[p] = true
			l.mu.Unlock()
			go l.fetch(ctx, p, fi, mg)
			return
		}
	}
	if err != nil {
		l.fail(p, fi, err)
		return
	}
	l.add(p, fi, mi, nil)
}

func (l *library) fetch(ctx context.Context, p string, fi os.FileInfo, mg *metainfo.Magnet) {
	defer func() {
		l.mu.Lock()
		delete(l.fetching, p)
		l.mu.Unlock()
	}()
	mi, peers, err := l.cfg.nf.resolveMetadata(ctx, l.cl, source{mg: mg}, l.cfg.cacheDir, nil)
	if err != nil {
		if ctx.Err() == nil {
			l.fail(p, fi, err)
		}
		return
	}
	l.add(p, fi, mi, peers)
}

func (l *library) fail(p string, fi os.FileInfo, err error) {
	l.cfg.log.Warn("library: torrent not added", "file", p, "err", err)
	l.mu.Lock()
	l.bad[p] = fi.ModTime()
	l.mu.Unlock()
}

// add starts serving a torrent and shows it.
func (l *library) add(p string, fi os.FileInfo, mi *metainfo.MetaInfo, peers []netip.AddrPort) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.torrents {
		if o.mi.InfoHash == mi.InfoHash {
			l.cfg.log.Warn("library: torrent already shown from another file", "file", p, "other", o.path)
			l.bad[p] = fi.ModTime()
			return
		}
	}
	lt := &libTorrent{path: p, mod: fi.ModTime(), size: fi.Size(), mi: mi}
	if l.dc != nil {
		dt, err := l.dc.Torrent(mi.InfoHash, disk.Meta{Name: mi.Info.Name, PieceLength: mi.Info.PieceLength, Length: mi.Info.Length, Hashes: mi.Info.Pieces})
		if err != nil {
			l.cfg.log.Warn("library: disk cache", "file", p, "err", err)
		} else {
			lt.dt = dt
		}
	}
	lt.pieces = l.store.Pieces(mi.InfoHash, lt.dt, mi.Info.Layout().PieceSize)
	backlog := min(64<<20, l.cfg.memCache/4)
	t, err := l.cl.AddTorrent(mi, lt.pieces, swarm.TorrentOptions{
		Peers: append(peers, l.cfg.nf.peers...), Readahead: min(l.cfg.readahead<<20, l.cfg.memCache/4),
		Prefetch: l.cfg.prefetch, Backlog: backlog,
	})
	if err != nil {
		if lt.dt != nil {
			lt.dt.Close()
		}
		l.cfg.log.Warn("library: torrent not added", "file", p, "err", err)
		l.bad[p] = fi.ModTime()
		return
	}
	lt.t = t
	lt.name = l.lib.Add(p, mi.InfoHash, &mi.Info, fsTorrent{t, l.cfg.browseOnly, l.m})
	l.torrents[p] = lt
	l.cfg.log.Info("library: added", "file", p, "name", lt.name)
}

// remove takes a torrent off the mount and stops it; its open files fail.
func (l *library) remove(p string) {
	l.mu.Lock()
	lt := l.torrents[p]
	delete(l.torrents, p)
	l.mu.Unlock()
	if lt == nil {
		return
	}
	l.lib.Remove(p)
	lt.t.Close()
	if lt.dt != nil {
		lt.dt.Close()
	}
	l.cfg.log.Info("library: removed", "file", p, "name", lt.name)
}

func (l *library) closeAll() {
	l.mu.Lock()
	ps := make([]string, 0, len(l.torrents))
	for p := range l.torrents {
		ps = append(ps, p)
	}
	l.mu.Unlock()
	for _, p := range ps {
		l.remove(p)
	}
}

// status is a library mount's answer to `btfs status`: the mount, and one
// entry per torrent.
func (l *library) status(dir, src string) mountStatus {
	ms := mountStatus{Mountpoint: dir, Phase: "library", Name: src, PID: os.Getpid(), ETASeconds: -1,
		Files: []fileStatus{}, Trackers: []trackerStatus{}, PeerList: []peerStatus{}}
	l.mu.Lock()
	lts := make([]*libTorrent, 0, len(l.torrents))
	for _, lt := range l.torrents {
		lts = append(lts, lt)
	}
	l.mu.Unlock()
	sort.Slice(lts, func(i, j int) bool { return lts[i].name < lts[j].name })
	ms.Library = []libraryStatus{}
	ms.BlockedReads = []blockedRead{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, lt := range lts {
		for _, b := range blockedReads(ctx, lt.t) {
			// As seen below the mount: a single-file torrent is the file.
			if lt.mi.Info.MultiFile {
				b.Path = filepath.Join(lt.name, b.Path)
			} else {
				b.Path = lt.name
			}
			ms.BlockedReads = append(ms.BlockedReads, b)
		}
		s := lt.t.Stats()
		ms.Library = append(ms.Library, libraryStatus{
			Name: lt.name, File: lt.path, InfoHash: lt.mi.HexHash(), Size: lt.mi.Info.Length,
			PiecesVerified: s.PiecesVerified, Pieces: s.Pieces, Peers: s.Peers, Downloaded: s.Downloaded, Uploaded: s.Uploaded,
		})
		ms.Size += lt.mi.Info.Length
		ms.PiecesVerified += s.PiecesVerified
		ms.Pieces += s.Pieces
		ms.Peers += s.Peers
		ms.Downloaded += s.Downloaded
		ms.Uploaded += s.Uploaded
	}
	if ms.Pieces > 0 {
		ms.Percent = 100 * float64(ms.PiecesVerified) / float64(ms.Pieces)
	}
	ms.MemoryCache = l.store.Bytes()
	return ms
}
