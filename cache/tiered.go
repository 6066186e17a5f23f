package cache

import (
	"errors"
	"fmt"

	"github.com/btfs/btfs/cache/disk"
)

// Pieces is one torrent's view of the cache: the shared memory LRU over
// the torrent's disk store (nil when there is no disk tier). It is safe
// for concurrent use and implements the engine's piece storage.
type Pieces struct {
	mem  *Store
	ih   [20]byte
	disk *disk.Torrent
	// pieceSize gives each piece's length, to read whole pieces from disk.
	pieceSize func(piece int) int
}

// Pieces returns the view for one torrent; d may be nil (memory only).
func (s *Store) Pieces(infoHash [20]byte, d *disk.Torrent, pieceSize func(int) int) *Pieces {
	return &Pieces{mem: s, ih: infoHash, disk: d, pieceSize: pieceSize}
}

func (c *Pieces) key(i int) Key { return Key{InfoHash: c.ih, Piece: i} }

// ReadBlock copies bytes [begin, begin+len(p)) of a held piece into p:
// from memory if the piece is there (without touching its recency), else
// with one pread of just that range from disk. It never brings a piece into
// memory, so serving peers does not evict what local readers use. The
// first read of a disk piece since start checks the whole piece once (see
// disk.Torrent.ReadAt) in a pooled buffer. False when neither tier holds
// the piece, or the range is outside it.
func (c *Pieces) ReadBlock(piece, begin int, p []byte) (bool, error) {
	if c.mem.ReadAt(c.key(piece), begin, p) {
		return true, nil
	}
	if c.disk == nil || begin < 0 || begin+len(p) > c.pieceSize(piece) {
		return false, nil
	}
	ok, err := c.disk.ReadAt(piece, begin, p)
	if err != nil {
		return false, fmt.Errorf("disk cache: piece %d: %w", piece, err)
	}
	return ok, nil
}

// Warm prepares a piece held only on disk for a reader about to use it:
// if this is its first read since start it is checked now (see ReadBlock),
// which also leaves it in the kernel's page cache; later reads of it are
// then single preads. It does not bring the piece into memory: measured
// on a cached remount, promoting whole pieces ahead of a sequential reader
// took twice the CPU of serving it with preads and was no faster.
func (c *Pieces) Warm(piece int) {
	if c.disk == nil || c.mem.Contains(c.key(piece)) {
		return
	}
	_, _ = c.disk.Check(piece) // a bad piece is dropped; its reader re-fetches it
}

// Piece returns a copy of a held piece's bytes, from memory or disk,
// without promoting it (for tools and tests; the engine reads blocks).
func (c *Pieces) Piece(piece int) ([]byte, bool, error) {
	d := make([]byte, c.pieceSize(piece))
	ok, err := c.ReadBlock(piece, 0, d)
	if err != nil || !ok {
		return nil, false, err
	}
	return d, true, nil
}

// Alloc returns a piece buffer of n bytes from the shared pool, with one
// reference (see Buf).
func (c *Pieces) Alloc(n int) *Buf { return c.mem.pool.Get(n) }

// Has reports whether either tier holds the piece.
func (c *Pieces) Has(piece int) bool {
	return c.mem.Contains(c.key(piece)) || c.disk != nil && c.disk.Has(piece)
}

// Put stores a verified piece in memory and on disk. A full disk is not an
// error here: the piece stays in memory and the disk tier has already
// logged its one warning.
func (c *Pieces) Put(piece int, data []byte) error {
	c.mem.Put(c.key(piece), data)
	return c.putDisk(piece, data)
}

// PutReserved is Put for a piece whose bytes were reserved with Reserve:
// the reservation becomes the piece held in memory, which takes its own
// reference to b; the caller's reference stays the caller's.
func (c *Pieces) PutReserved(piece int, b *Buf) error {
	c.mem.PutBuf(c.key(piece), b, true)
	return c.putDisk(piece, b.Bytes())
}

// Reserve counts n bytes of piece buffers (downloads, hashing, storing)
// against the shared memory budget; see Store.Reserve.
func (c *Pieces) Reserve(n int64) { c.mem.Reserve(n) }

// Release gives back reserved bytes that will not be stored.
func (c *Pieces) Release(n int64) { c.mem.Release(n) }

// Watch makes f learn of pieces that may have left the cache: evicted
// from memory while the disk tier does not hold them, or dropped from disk
// (memory may still hold those: f's caller checks Has, as a piece can also
// come back at once). f is called with a cache lock held: it must return at
// once and not call the cache. stop ends it.
func (c *Pieces) Watch(f func(piece int)) (stop func()) {
	if c.disk == nil {
		return c.mem.Watch(c.ih, f)
	}
	// Lock order: memory's, then disk's (Has); the disk tier's callback
	// runs under its own lock, so it cannot look at memory.
	stopMem := c.mem.Watch(c.ih, func(i int) {
		if !c.disk.Has(i) {
			f(i)
		}
	})
	c.disk.OnDrop(f)
	return func() {
		stopMem()
		c.disk.OnDrop(nil)
	}
}

func (c *Pieces) putDisk(piece int, data []byte) error {
	if c.disk == nil {
		return nil
	}
	if err := c.disk.Put(piece, data); err != nil && !errors.Is(err, disk.ErrFull) {
		return fmt.Errorf("disk cache: piece %d: %w", piece, err)
	}
	return nil
}

// MemBytes returns the bytes the shared memory cache holds (all torrents).
func (c *Pieces) MemBytes() int64 { return c.mem.Bytes() }

// DiskPieces returns how many of this torrent's pieces the disk tier holds
// (0 without one).
func (c *Pieces) DiskPieces() int {
	if c.disk == nil {
		return 0
	}
	return c.disk.Pieces()
}
