package disk

import (
	"container/list"
	"fmt"
	"os"
)

func (c *Cache) warnPunch(st *store, err error) {
	if c.warnedPunch.CompareAndSwap(false, true) {
		c.log.Warn("disk cache: cannot punch holes; evicted pieces keep their disk space",
			"file", st.path(dataName), "err", err)
	}
}

// ensureDataLocked opens (creating if needed) st's data file at its length.
func (st *store) ensureDataLocked() error {
	if st.data != nil {
		return nil
	}
	f, err := os.OpenFile(st.path(dataName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() != st.length {
		err = f.Truncate(st.length)
	}
	if err != nil {
		f.Close()
		return err
	}
	st.data = f
	return nil
}

// makeRoomLocked evicts least recently used pieces, those of torrents that
// are not open first, until n more bytes fit in the budget. It reports
// whether they do.
func (c *Cache) makeRoomLocked(n int64) bool {
	for c.usage+c.reserved+n > c.max {
		st := c.victimLocked()
		if st == nil {
			return false
		}
		c.dropLocked(st, st.lru.Front().Value.(*entry).piece)
	}
	return true
}

func (c *Cache) victimLocked() *store {
	var best *store
	var bestStamp uint64
	for _, st := range c.stores {
		if st.lru.Len() == 0 {
			continue
		}
		stamp := st.lru.Front().Value.(*entry).stamp
		if best == nil || (best.open && !st.open) || (best.open == st.open && stamp < bestStamp) {
			best, bestStamp = st, stamp
		}
	}
	return best
}

// dropLocked forgets a held piece, punches its hole, and tells the
// torrent's watcher.
func (c *Cache) dropLocked(st *store, piece int) {
	c.forgetPieceLocked(st, piece)
	if st.onDrop != nil {
		st.onDrop(piece)
	}
}

// forgetPieceLocked forgets a held piece and punches its hole.
func (c *Cache) forgetPieceLocked(st *store, piece int) {
	st.lru.Remove(st.elems[piece])
	delete(st.elems, piece)
	clearBit(st.held, piece)
	clearBit(st.known, piece)
	st.crcs[piece] = 0
	clearBit(st.verified, piece)
	size := st.pieceSize(piece)
	st.count--
	st.bytes -= size
	c.usage -= size
	st.dirty = true
	err := st.ensureDataLocked()
	if err == nil {
		err = punch(st.data, int64(piece)*st.pieceLen, size)
	}
	if err != nil {
		c.warnPunch(st, fmt.Errorf("piece %d: %w", piece, err))
	}
}

func (c *Cache) touchLocked(st *store, el *list.Element) {
	c.clock++
	el.Value.(*entry).stamp = c.clock
	st.lru.MoveToBack(el)
}
