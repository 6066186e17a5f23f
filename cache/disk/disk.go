// Package disk is the persistent tier of the piece cache: verified pieces of
// every torrent of the process, kept in one sparse file per torrent under a
// directory that outlives the process, bounded in bytes and crash-safe.
//
// Layout: Dir/<40 lower-case hex info-hash>/ holds `data` (sparse, the
// torrent's length), `pieces` (bitmap of pieces whose bytes were durable
// when it was written, with each one's CRC-32C) and `meta` (JSON). Nothing
// in a path comes from the torrent. Dir/lock is flock'ed by the process
// that has the cache open.
//
// A bit reaches `pieces` only after the data file was fdatasync'ed (group
// commit, every Options.SyncEvery); bits and CRCs are replaced together by
// one atomic rename. An evicted piece's hole may be punched before the next
// bitmap is written, so after a crash a bit can name a hole: that is why a
// piece read back from disk is checked before it is trusted, once per
// process: its CRC-32C (taken from the verified bytes at Put), and its
// SHA-1 only if the CRC does not match or is unknown (a store written in
// format 1, before CRCs); a piece that fails both is dropped.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ErrFull is wrapped by Put when the filesystem (or the quota) is full.
var ErrFull = errors.New("disk cache: no space left")

// ErrLocked is returned by Open when another process has the directory open.
var ErrLocked = errors.New("disk cache: directory in use by another process")

const (
	defaultMaxBytes  = 10 << 30
	defaultSyncEvery = 200 * time.Millisecond
)

// Options configure Open.
type Options struct {
	Dir       string        // e.g. ~/.cache/btfs; created if missing (0700)
	MaxBytes  int64         // budget for all torrents' piece data; <=0: 10 GiB
	Logger    *slog.Logger  // nil = discard
	SyncEvery time.Duration // group-commit interval; 0 = 200 ms
}

// Meta is what the cache must know of a torrent.
type Meta struct {
	Name        string     // display only (shown by List), never used in paths
	PieceLength int64      // bytes per piece, the last one may be shorter
	Length      int64      // total bytes
	Hashes      [][20]byte // one per piece; checks pieces read back from disk whose CRC-32C fails
}

// Entry describes one torrent held in the cache.
type Entry struct {
	InfoHash  [20]byte
	Name      string
	Pieces    int // held
	NumPieces int
	Bytes     int64 // bytes of held pieces
	LastUsed  time.Time
	Open      bool
}

// Cache is the disk tier shared by all torrents of a process. It is safe
// for concurrent use.
//
// Locks (order: commitMu, then mu):
//   - mu guards the map of stores, every store's in-memory state, the usage
//     counters and the LRU clock. It separates the callers of Put, ReadAt,
//     Has and Pieces (torrent loops, FUSE readers, peer writers), the commit
//     goroutine and the management calls. Data is read and written with
//     pread/pwrite outside mu; hole punching (eviction) happens under mu.
//   - commitMu serializes the group commit with the calls that create or
//     delete torrent directories (Torrent, Remove, RemoveAll, Close), so a
//     commit never writes a bitmap into a directory that is being replaced.
type Cache struct {
	dir       string
	max       int64
	log       *slog.Logger
	syncEvery time.Duration
	lock      *os.File // flock'ed Dir/lock, released by Close

	commitMu sync.Mutex

	mu       sync.Mutex
	stores   map[[20]byte]*store
	usage    int64  // bytes of held pieces
	reserved int64  // bytes of Puts in flight
	clock    uint64 // LRU time, bumped on every access
	closing  bool

	warnedFull  atomic.Bool
	warnedPunch atomic.Bool

	// hook, if set (tests only), is called before each step of a commit
	// and before the read of a first-read check; an error fails that step.
	hook func(ih [20]byte, step string) error

	stopC chan struct{}
	doneC chan struct{}
}

// Open opens (creating if needed) the cache in opts.Dir, scans the torrents
// held there and starts the group-commit goroutine. Entries that are not
// torrent directories are ignored; a torrent directory whose meta cannot be
// read is removed. ctx bounds the scan.
func Open(ctx context.Context, opts Options) (*Cache, error) {
	if opts.Dir == "" {
		return nil, errors.New("disk cache: no directory")
	}
	c := &Cache{
		dir:       opts.Dir,
		max:       opts.MaxBytes,
		log:       opts.Logger,
		syncEvery: opts.SyncEvery,
		stores:    make(map[[20]byte]*store),
		stopC:     make(chan struct{}),
		doneC:     make(chan struct{}),
	}
	if c.max <= 0 {
		c.max = defaultMaxBytes
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.syncEvery <= 0 {
		c.syncEvery = defaultSyncEvery
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(c.dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	err = control(lock, "flock", func(fd int) error { return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) })
	if errors.Is(err, unix.EWOULDBLOCK) {
		lock.Close()
		return nil, fmt.Errorf("%w: %s", ErrLocked, c.dir)
	}
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	c.lock = lock
	if err := c.scan(ctx); err != nil {
		c.closeFiles()
		lock.Close()
		return nil, err
	}
	go c.run()
	return c, nil
}

// List describes every torrent in the cache, sorted by name.
func (c *Cache) List() []Entry {
	c.mu.Lock()
	out := make([]Entry, 0, len(c.stores))
	for _, st := range c.stores {
		out = append(out, Entry{
			InfoHash: st.ih, Name: st.name, Pieces: st.count, NumPieces: st.numPieces,
			Bytes: st.bytes, LastUsed: st.lastUsed, Open: st.open,
		})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Entry) int {
		if r := strings.Compare(a.Name, b.Name); r != 0 {
			return r
		}
		return slices.Compare(a.InfoHash[:], b.InfoHash[:])
	})
	return out
}

// Remove drops one torrent's data. It fails if the torrent is open.
func (c *Cache) Remove(infoHash [20]byte) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	st := c.stores[infoHash]
	switch {
	case st == nil:
		c.mu.Unlock()
		return fmt.Errorf("disk cache: torrent %x: %w", infoHash, fs.ErrNotExist)
	case st.open:
		c.mu.Unlock()
		return fmt.Errorf("disk cache: torrent %x is open", infoHash)
	}
	c.forgetLocked(st)
	c.mu.Unlock()
	return removeDir(st.dir)
}

// RemoveAll drops every torrent that is not open.
func (c *Cache) RemoveAll() error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	var gone []*store
	c.mu.Lock()
	for _, st := range c.stores {
		if !st.open {
			c.forgetLocked(st)
			gone = append(gone, st)
		}
	}
	c.mu.Unlock()
	var errs []error
	for _, st := range gone {
		errs = append(errs, removeDir(st.dir))
	}
	return errors.Join(errs...)
}

func removeDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("disk cache: remove %s: %w", dir, err)
	}
	return nil
}

// forgetLocked removes st from the cache's accounting and closes its file.
// The caller holds commitMu (no commit is using the file) and removes the
// directory.
func (c *Cache) forgetLocked(st *store) {
	delete(c.stores, st.ih)
	c.usage -= st.bytes
	st.lru.Init()
	clear(st.elems)
	if st.data != nil {
		st.data.Close()
		st.data = nil
	}
}

// Usage returns the bytes of piece data held.
func (c *Cache) Usage() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usage
}

// Close stops the commit goroutine, does a final group commit and closes
// the files. Torrents still open become unusable.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	now := time.Now()
	for _, st := range c.stores {
		if st.open {
			st.lastUsed = now
			st.metaDirty = true
		}
	}
	c.mu.Unlock()
	close(c.stopC)
	<-c.doneC
	err := c.commit()
	c.commitMu.Lock()
	c.closeFiles()
	c.commitMu.Unlock()
	if cerr := c.lock.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("disk cache: %w", cerr)
	}
	return err
}

func (c *Cache) closeFiles() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stores {
		if st.data != nil {
			st.data.Close()
			st.data = nil
		}
	}
}
