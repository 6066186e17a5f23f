package disk

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Torrent is one torrent's store, open (mounted) until Close. Its methods
// are safe for concurrent use.
type Torrent struct {
	c  *Cache
	st *store
	// closed is guarded by c.mu.
	closed bool
}

func marshalMeta(m metaFile) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // plain struct of strings and integers
	}
	return append(b, '\n')
}

// Torrent opens (creating it if needed) the store of one torrent and marks
// it open. If the directory held a torrent of another shape (length, piece
// length or piece count) it is wiped and recreated. A torrent can be open
// once at a time.
func (c *Cache) Torrent(infoHash [20]byte, m Meta) (*Torrent, error) {
	n, err := numPieces(m.PieceLength, m.Length)
	if err != nil {
		return nil, fmt.Errorf("disk cache: torrent %x: %w", infoHash, err)
	}
	if len(m.Hashes) != n {
		return nil, fmt.Errorf("disk cache: torrent %x: %d hashes for %d pieces", infoHash, len(m.Hashes), n)
	}
	c.commitMu.Lock()
	defer c.commitMu.Unlock()

	c.mu.Lock()
	st := c.stores[infoHash]
	switch {
	case c.closing:
		c.mu.Unlock()
		return nil, fmt.Errorf("disk cache: torrent %x: %w", infoHash, os.ErrClosed)
	case st != nil && st.open:
		c.mu.Unlock()
		return nil, fmt.Errorf("disk cache: torrent %x is already open", infoHash)
	case st != nil && (st.pieceLen != m.PieceLength || st.length != m.Length || st.numPieces != n):
		c.forgetLocked(st)
		c.mu.Unlock()
		c.log.Info("disk cache: torrent shape changed, wiping it", "dir", st.dir)
		if err := removeDir(st.dir); err != nil {
			return nil, err
		}
		st = nil
	default:
		c.mu.Unlock()
	}

	if st == nil {
		st, err = c.create(infoHash, m, n)
		if err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := st.ensureDataLocked(); err != nil {
		return nil, fmt.Errorf("disk cache: torrent %x: %w", infoHash, err)
	}
	c.stores[infoHash] = st
	st.open = true
	st.name = m.Name
	st.hashes = m.Hashes
	st.lastUsed = time.Now()
	st.metaDirty = true
	return &Torrent{c: c, st: st}, nil
}

// create makes a fresh directory for a torrent: sparse data, then meta.
// The caller holds commitMu.
func (c *Cache) create(ih [20]byte, m Meta, n int) (*store, error) {
	dir := filepath.Join(c.dir, hex.EncodeToString(ih[:]))
	if err := os.RemoveAll(dir); err != nil { // a directory the scan skipped
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	st := newStore(ih, dir, m.PieceLength, m.Length, n)
	st.name = m.Name
	st.lastUsed = time.Now()
	err := st.ensureDataLocked() // not yet shared: no lock needed
	if err == nil {
		err = writeAtomic(dir, metaName, marshalMeta(st.metaLocked()), func(string) error { return nil })
	}
	if err == nil {
		err = syncDir(c.dir)
	}
	if err != nil {
		if st.data != nil {
			st.data.Close()
		}
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("disk cache: create %s: %w", dir, err)
	}
	return st, nil
}

func (t *Torrent) errorf(piece int, format string, args ...any) error {
	return fmt.Errorf("disk cache: torrent %x piece %d: "+format, append([]any{t.st.ih, piece}, args...)...)
}

// usableLocked reports why t cannot be used, or nil.
func (t *Torrent) usableLocked() error {
	if t.closed || t.c.closing {
		return os.ErrClosed
	}
	return nil
}

// Put stores a verified piece. It is readable at once and durable after
// the next group commit. Least recently used pieces (first those of
// torrents that are not open) are evicted to make room; a piece larger than
// the whole budget is not stored. When the filesystem is full Put returns
// an error wrapping ErrFull and the piece is not held.
func (t *Torrent) Put(piece int, data []byte) error {
	st, c := t.st, t.c
	if piece < 0 || piece >= st.numPieces {
		return t.errorf(piece, "out of range [0, %d)", st.numPieces)
	}
	size := st.pieceSize(piece)
	if int64(len(data)) != size {
		return t.errorf(piece, "%d bytes, want %d", len(data), size)
	}

	c.mu.Lock()
	if err := t.usableLocked(); err != nil {
		c.mu.Unlock()
		return t.errorf(piece, "%w", err)
	}
	if el := st.elems[piece]; el != nil {
		if hasBit(st.verified, piece) {
			c.touchLocked(st, el)
			c.mu.Unlock()
			return nil
		}
		c.dropLocked(st, piece) // untrusted bytes from disk: replace them
	}
	if st.writing[piece] || size > c.max || !c.makeRoomLocked(size) {
		c.mu.Unlock()
		return nil // being written already, or does not fit: not held
	}
	c.reserved += size
	st.writing[piece] = true
	f := st.data
	c.mu.Unlock()

	off := int64(piece) * st.pieceLen
	_, err := f.WriteAt(data, off)
	if err != nil {
		_ = punch(f, off, size) // give back what the short write allocated
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.reserved -= size
	delete(st.writing, piece)
	if err == nil && (c.closing || c.stores[st.ih] != st) {
		err = os.ErrClosed // the cache was closed under us
	}
	if err != nil {
		if isFull(err) {
			c.warnFull(err)
			return t.errorf(piece, "%w: %w", ErrFull, err)
		}
		return t.errorf(piece, "write: %w", err)
	}
	setBit(st.held, piece)
	setBit(st.verified, piece)
	st.count++
	st.bytes += size
	c.usage += size
	c.clock++
	st.elems[piece] = st.lru.PushBack(&entry{piece: piece, stamp: c.clock})
	st.unsynced = append(st.unsynced, piece)
	st.dirty = true
	return nil
}

// ReadAt copies bytes [begin, begin+len(p)) of a held piece into p and
// reports whether the piece is held. The first read of a piece that came
// from disk (not from a Put in this process) reads and SHA-1-checks the
// whole piece; on a mismatch the piece is dropped and ReadAt returns false.
func (t *Torrent) ReadAt(piece, begin int, p []byte) (bool, error) {
	st, c := t.st, t.c
	if piece < 0 || piece >= st.numPieces {
		return false, t.errorf(piece, "out of range [0, %d)", st.numPieces)
	}
	size := st.pieceSize(piece)
	if begin < 0 || int64(begin)+int64(len(p)) > size {
		return false, t.errorf(piece, "range [%d, %d) outside its %d bytes", begin, begin+len(p), size)
	}

	c.mu.Lock()
	if err := t.usableLocked(); err != nil {
		c.mu.Unlock()
		return false, t.errorf(piece, "%w", err)
	}
	el := st.elems[piece]
	if el == nil {
		c.mu.Unlock()
		return false, nil
	}
	verified := hasBit(st.verified, piece)
	f := st.data
	want := st.hashes[piece]
	c.mu.Unlock()

	off := int64(piece) * st.pieceLen
	if verified {
		if _, err := f.ReadAt(p, off+int64(begin)); err != nil {
			return false, t.errorf(piece, "read: %w", err)
		}
		// The piece may have been evicted (its hole punched) while we
		// read without the lock: then its entry is gone or replaced.
		c.mu.Lock()
		defer c.mu.Unlock()
		if st.elems[piece] != el {
			return false, nil
		}
		c.touchLocked(st, el)
		return true, nil
	}

	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, off); err != nil {
		return false, t.errorf(piece, "read: %w", err)
	}
	ok := sha1.Sum(buf) == want
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.elems[piece] != el {
		return false, nil
	}
	if !ok {
		c.log.Warn("disk cache: piece failed its hash check, dropping it",
			"file", st.path(dataName), "piece", piece)
		c.dropLocked(st, piece)
		return false, nil
	}
	setBit(st.verified, piece)
	c.touchLocked(st, el)
	copy(p, buf[begin:])
	return true, nil
}

// Has reports whether a piece is held (it may still fail its first check).
func (t *Torrent) Has(piece int) bool {
	if piece < 0 || piece >= t.st.numPieces {
		return false
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return hasBit(t.st.held, piece)
}

// Pieces returns the number of pieces held.
func (t *Torrent) Pieces() int {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.st.count
}

// Close marks the torrent as no longer open: its pieces are evicted first
// from now on. Its data stays in the cache. Put and ReadAt fail afterwards.
func (t *Torrent) Close() error {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if t.c.stores[t.st.ih] == t.st {
		t.st.open = false
		t.st.lastUsed = time.Now()
		t.st.metaDirty = true
	}
	return nil
}
