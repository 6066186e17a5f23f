package disk

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// scan loads every torrent directory, orders their pieces in the LRU by
// the torrents' last use, and evicts down to the budget.
func (c *Cache) scan(ctx context.Context) error {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("disk cache: %w", err)
	}
	var loaded []*store
	for _, de := range ents {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("disk cache: scan %s: %w", c.dir, err)
		}
		ih, ok := parseInfoHash(de.Name())
		if !ok || !de.IsDir() { // symlinks are not followed
			if de.Name() != lockName {
				c.log.Debug("disk cache: ignoring entry", "dir", c.dir, "name", de.Name())
			}
			continue
		}
		st, err := c.load(ih)
		if err != nil {
			c.log.Warn("disk cache: skipping torrent", "dir", filepath.Join(c.dir, de.Name()), "err", err)
			continue
		}
		if st != nil {
			loaded = append(loaded, st)
		}
	}
	slices.SortStableFunc(loaded, func(a, b *store) int { return a.lastUsed.Compare(b.lastUsed) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range loaded {
		c.stores[st.ih] = st
		for i := range st.numPieces {
			if hasBit(st.held, i) {
				c.clock++
				st.elems[i] = st.lru.PushBack(&entry{piece: i, stamp: c.clock})
			}
		}
		c.usage += st.bytes
	}
	c.makeRoomLocked(0)
	return nil
}

func parseInfoHash(name string) (ih [20]byte, ok bool) {
	if len(name) != 40 || strings.ToLower(name) != name {
		return ih, false
	}
	_, err := hex.Decode(ih[:], []byte(name))
	return ih, err == nil
}

// load reads one torrent directory. It returns (nil, nil) if the directory
// was removed because its meta is unreadable.
func (c *Cache) load(ih [20]byte) (*store, error) {
	dir := filepath.Join(c.dir, hex.EncodeToString(ih[:]))
	m, err := readMeta(filepath.Join(dir, metaName))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) {
			return nil, err // cannot read it now (permissions, I/O): leave it be
		}
		c.log.Warn("disk cache: removing torrent with unreadable meta", "dir", dir, "err", err)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove %s: %w", dir, err)
		}
		return nil, nil
	}
	for _, name := range []string{piecesName + tmpSuffix, metaName + tmpSuffix} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("disk cache: removing leftover", "file", filepath.Join(dir, name), "err", err)
		}
	}
	st := newStore(ih, dir, m.PieceLength, m.Length, m.NumPieces)
	st.name = m.Name
	st.lastUsed = time.Unix(m.LastUsed, 0)

	b, err := os.ReadFile(st.path(piecesName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return st, nil
	case err != nil:
		c.log.Warn("disk cache: bitmap unreadable, treating as empty", "file", st.path(piecesName), "err", err)
		st.dirty = true
		return st, nil
	}
	sums, err := decodeBitmap(b, st.numPieces)
	if err != nil {
		c.log.Warn("disk cache: bad bitmap, treating as empty", "file", st.path(piecesName), "err", err)
		st.dirty = true
		return st, nil
	}
	if countBits(sums.held) == 0 {
		return st, nil
	}
	f, err := os.OpenFile(st.path(dataName), os.O_RDWR, 0)
	if err != nil {
		c.log.Warn("disk cache: data unreadable, dropping its pieces", "file", st.path(dataName), "err", err)
		st.dirty = true
		return st, nil
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != st.length {
		f.Close()
		c.log.Warn("disk cache: data has the wrong size, dropping its pieces", "file", st.path(dataName))
		st.dirty = true
		return st, nil
	}
	st.data = f
	st.pieceSums = sums
	if string(b[:len(bitmapMagicV1)]) == bitmapMagicV1 {
		c.log.Info("disk cache: format 1 bitmap; pieces are SHA-1-checked on first read and get a CRC-32C",
			"file", st.path(piecesName))
		st.dirty = true // rewrite it as format 2 at the next commit
	}
	for i := range st.numPieces {
		if hasBit(st.held, i) {
			st.count++
			st.bytes += st.pieceSize(i)
		}
	}
	c.punchUnheld(st)
	return st, nil
}

// punchUnheld frees space held by pieces whose bits never reached the
// bitmap (a crash between their pwrite and the commit).
func (c *Cache) punchUnheld(st *store) {
	a, err := allocated(st.data)
	if err != nil || a <= st.bytes {
		return
	}
	for i := 0; i < st.numPieces; {
		if hasBit(st.held, i) {
			i++
			continue
		}
		j := i
		for j < st.numPieces && !hasBit(st.held, j) {
			j++
		}
		off := int64(i) * st.pieceLen
		end := min(int64(j)*st.pieceLen, st.length)
		if err := punch(st.data, off, end-off); err != nil {
			c.warnPunch(st, err)
			return
		}
		i = j
	}
}
