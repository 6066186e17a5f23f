package disk

import (
	"container/list"
	"errors"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// File names inside a torrent's directory. Nothing here comes from the
// torrent itself: the directory is the hex info-hash.
const (
	dataName   = "data"
	piecesName = "pieces"
	metaName   = "meta"
	tmpSuffix  = ".tmp"
	lockName   = "lock"

	bitmapMagic   = "BTFSBM2\n" // held bits + per-piece CRC-32C (format 2)
	bitmapMagicV1 = "BTFSBM1\n" // held bits only: still read, rewritten as format 2
	metaVersion   = 1
	maxMetaSize   = 64 << 10
	maxPieceCount = 1 << 26 // far above any real torrent; keeps bitmaps small
)

// store is one torrent's directory and its in-memory state. Every field
// is guarded by Cache.mu, except the immutable identity fields (ih, dir,
// pieceLen, length, numPieces).
type store struct {
	ih        [20]byte
	dir       string
	pieceLen  int64
	length    int64
	numPieces int

	name     string
	lastUsed time.Time
	hashes   [][20]byte // set by Cache.Torrent; nil for a torrent never opened in this process

	data *os.File // nil until needed
	// pieceSums: held = pieces whose bytes are on disk (BitTorrent bit
	// order); known, crcs = the CRC-32C of held pieces' verified bytes.
	pieceSums
	verified []byte                // held pieces this process trusts (Put here or checked)
	writing  map[int]bool          // pieces with a Put in flight
	checking map[int]chan struct{} // first-read checks in flight, closed when done
	unsynced []int                 // pieces written since the last successful fdatasync
	lru      *list.List            // of *entry; front = least recently used
	elems    map[int]*list.Element
	count    int   // held pieces
	bytes    int64 // bytes of held pieces

	open bool // a Torrent handle is live
	// onDrop, set while a Torrent handle is open, learns of each piece
	// dropped (evicted, or found bad). It is called with c.mu held and
	// must not block or call back into the cache.
	onDrop    func(piece int)
	dirty     bool // held changed since the bitmap was last written
	metaDirty bool // name or lastUsed changed since meta was last written
}

// entry is one held piece in its store's LRU list. A piece evicted and
// stored again gets a new entry, so a reader can tell by pointer identity
// whether its piece was dropped while it read without the lock.
type entry struct {
	piece int
	stamp uint64 // Cache.clock at the last access
}

func newStore(ih [20]byte, dir string, pieceLen, length int64, n int) *store {
	return &store{
		ih: ih, dir: dir, pieceLen: pieceLen, length: length, numPieces: n,
		pieceSums: newPieceSums(n),
		verified:  make([]byte, (n+7)/8),
		writing:   make(map[int]bool),
		checking:  make(map[int]chan struct{}),
		lru:       list.New(),
		elems:     make(map[int]*list.Element),
	}
}

func (s *store) pieceSize(i int) int64 {
	off := int64(i) * s.pieceLen
	return min(s.pieceLen, s.length-off)
}

func (s *store) path(name string) string { return filepath.Join(s.dir, name) }

// Steps of a commit, named for the test hook.
const (
	stepDatasync  = "fdatasync data"
	stepWriteTmp  = "write tmp"
	stepFsyncTmp  = "fsync tmp"
	stepRename    = "rename"
	stepFsyncDir  = "fsync dir"
	stepWriteMeta = "meta"
	stepCheck     = "check" // a first-read check (not a commit step)
)

// writeAtomic replaces dir/name with b: write name.tmp, fsync it, rename it
// over name, fsync dir. step is called before each step (tests inject
// failures and record the order).
func writeAtomic(dir, name string, b []byte, step func(string) error) (err error) {
	tmp := filepath.Join(dir, name+tmpSuffix)
	if err := step(stepWriteTmp); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := step(stepFsyncTmp); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := step(stepRename); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	if err := step(stepFsyncDir); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// control runs fn on f's descriptor, holding a reference so a concurrent
// Close cannot recycle it.
func control(f *os.File, op string, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		return err
	}
	if opErr != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: opErr}
	}
	return nil
}

// punch deallocates [off, off+n) of f, keeping its size.
func punch(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	return control(f, "fallocate punch hole", func(fd int) error {
		return unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	})
}

func fdatasync(f *os.File) error {
	return control(f, "fdatasync", unix.Fdatasync)
}

// allocated returns the bytes allocated on disk for f (st_blocks*512).
func allocated(f *os.File) (int64, error) {
	var st unix.Stat_t
	err := control(f, "fstat", func(fd int) error { return unix.Fstat(fd, &st) })
	return st.Blocks * 512, err
}

// isFull reports whether err means the filesystem or the quota is full.
func isFull(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}
