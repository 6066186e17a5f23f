package disk

import (
	"container/list"
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
	// scratch is a free list of piece-length buffers for first-read checks
	// that do not read into the caller's own buffer. Unlike a sync.Pool it
	// survives garbage collections, which the FUSE read path triggers
	// often: a fresh 1 MiB buffer per check cost page faults and zeroing
	// that showed in profiles of a cached remount.
	scratch chan []byte
}

// maxScratchBytes bounds the check buffers a Torrent keeps between uses.
const maxScratchBytes = 16 << 20

func (t *Torrent) getScratch() []byte {
	select {
	case b := <-t.scratch:
		return b
	default:
		return make([]byte, t.st.pieceLen)
	}
}

func (t *Torrent) putScratch(b []byte) {
	select {
	case t.scratch <- b:
	default: // enough kept: let it go
	}
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
	keep := max(1, min(4, maxScratchBytes/st.pieceLen))
	return &Torrent{c: c, st: st, scratch: make(chan []byte, keep)}, nil
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
		// Untrusted bytes from disk: replaced by the verified ones at once
		// (no drop to report; if the write fails, Put's error says so).
		c.forgetPieceLocked(st, piece)
	}
	if st.writing[piece] || size > c.max || !c.makeRoomLocked(size) {
		c.mu.Unlock()
		return nil // being written already, or does not fit: not held
	}
	c.reserved += size
	st.writing[piece] = true
	f := st.data
	c.mu.Unlock()

	sum := pieceCRC(data) // data is verified: its CRC vouches for it later
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
	setBit(st.known, piece)
	st.crcs[piece] = sum
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
// reports whether the piece is held. A piece this process has trusted
// since start (Put here, or checked) is read with one pread of just the
// range. The first read of a piece found on disk checks the whole piece
// first: its CRC-32C, and SHA-1 only if the CRC is unknown (a format 1
// store) or does not match. A CRC mismatch with a good SHA-1 repairs the
// CRC; a bad SHA-1 drops the piece (hole punched) and ReadAt returns false.
// The check reads into p when p is the whole piece, else into a scratch
// buffer from a small free list; concurrent first reads of a piece share one check (a
// wait bounded by one piece's disk read). When ReadAt returns false the
// contents of p are unspecified.
func (t *Torrent) ReadAt(piece, begin int, p []byte) (bool, error) {
	st := t.st
	if piece < 0 || piece >= st.numPieces {
		return false, t.errorf(piece, "out of range [0, %d)", st.numPieces)
	}
	size := st.pieceSize(piece)
	if begin < 0 || int64(begin)+int64(len(p)) > size {
		return false, t.errorf(piece, "range [%d, %d) outside its %d bytes", begin, begin+len(p), size)
	}
	return t.read(piece, begin, p)
}

// Check makes sure a held piece has been checked since start (see ReadAt)
// without copying it anywhere, and reports whether it is held.
func (t *Torrent) Check(piece int) (bool, error) {
	if piece < 0 || piece >= t.st.numPieces {
		return false, t.errorf(piece, "out of range [0, %d)", t.st.numPieces)
	}
	return t.read(piece, 0, nil)
}

func (t *Torrent) read(piece, begin int, p []byte) (bool, error) {
	st, c := t.st, t.c
	off := int64(piece) * st.pieceLen
	for {
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
		f := st.data
		if hasBit(st.verified, piece) {
			c.mu.Unlock()
			return t.pread(piece, el, f, off+int64(begin), p)
		}
		if wait := st.checking[piece]; wait != nil {
			c.mu.Unlock()
			<-wait
			continue
		}
		done := make(chan struct{})
		st.checking[piece] = done
		chk := check{el: el, f: f, want: st.hashes[piece], crc: st.crcs[piece], known: hasBit(st.known, piece)}
		c.mu.Unlock()

		buf, scratch := p, []byte(nil)
		if begin != 0 || int64(len(p)) != st.pieceSize(piece) {
			scratch = t.getScratch()
			buf = scratch[:st.pieceSize(piece)]
		}
		ok, retry, err := t.check(piece, chk, buf, done)
		if scratch != nil {
			if ok {
				copy(p, buf[begin:])
			}
			t.putScratch(scratch)
		}
		if !retry {
			return ok, err
		}
	}
}

// pread reads p at off for a checked piece whose LRU entry is el.
func (t *Torrent) pread(piece int, el *list.Element, f *os.File, off int64, p []byte) (bool, error) {
	if len(p) > 0 {
		if _, err := f.ReadAt(p, off); err != nil {
			return false, t.errorf(piece, "read: %w", err)
		}
	}
	// The piece may have been evicted (its hole punched) while we read
	// without the lock: then its entry is gone or replaced.
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.st.elems[piece] != el {
		return false, nil
	}
	t.c.touchLocked(t.st, el)
	return true, nil
}

// check is what a first-read check needs from the store, copied under the lock.
type check struct {
	el    *list.Element
	f     *os.File
	want  [20]byte // SHA-1
	crc   uint32
	known bool // crc is set
}

// check reads piece into buf and verifies it (CRC-32C, else SHA-1), then
// records the verdict and closes done. retry is true when the piece was
// dropped or replaced while it was read: its state must be looked up again.
func (t *Torrent) check(piece int, k check, buf []byte, done chan struct{}) (ok, retry bool, err error) {
	st, c := t.st, t.c
	var rerr error
	if c.hook != nil {
		rerr = c.hook(st.ih, stepCheck)
	}
	if rerr == nil {
		_, rerr = k.f.ReadAt(buf, int64(piece)*st.pieceLen)
	}
	var crcOK, shaOK bool
	var sum uint32
	if rerr == nil {
		sum = pieceCRC(buf)
		crcOK = k.known && sum == k.crc
		shaOK = !crcOK && sha1.Sum(buf) == k.want
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	delete(st.checking, piece)
	close(done)
	switch {
	case rerr != nil:
		return false, false, t.errorf(piece, "read: %w", rerr)
	case st.elems[piece] != k.el:
		return false, true, nil
	case crcOK:
	case shaOK:
		if k.known {
			c.log.Warn("disk cache: piece CRC-32C mismatch but SHA-1 good, repairing the CRC",
				"file", st.path(dataName), "piece", piece)
		}
		setBit(st.known, piece)
		st.crcs[piece] = sum
		st.dirty = true // persisted by the next commit
	default:
		c.log.Warn("disk cache: piece failed its hash check, dropping it",
			"file", st.path(dataName), "piece", piece, "crc_known", k.known)
		c.dropLocked(st, piece)
		return false, false, nil
	}
	setBit(st.verified, piece)
	c.touchLocked(st, k.el)
	return true, false, nil
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

// OnDrop makes f learn of every piece of this torrent the cache drops from
// now on (evicted to make room, or found bad on its first read) until
// Close. f is called with the cache's lock held: it must return at once
// and not call the cache.
func (t *Torrent) OnDrop(f func(piece int)) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if !t.closed {
		t.st.onDrop = f
	}
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
	t.st.onDrop = nil
	if t.c.stores[t.st.ih] == t.st {
		t.st.open = false
		t.st.lastUsed = time.Now()
		t.st.metaDirty = true
	}
	return nil
}
