package disk

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// run is the group-commit goroutine; Close stops it and waits for it.
func (c *Cache) run() {
	defer close(c.doneC)
	t := time.NewTicker(c.syncEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stopC:
			return
		case <-t.C:
			if err := c.commit(); err != nil && !isFull(err) {
				c.log.Warn("disk cache: commit failed", "err", err)
			}
		}
	}
}

// commitJob is one store's share of a group commit.
type commitJob struct {
	st     *store
	bitmap []byte // nil: bits unchanged
	fresh  []int  // pieces to fdatasync before the bitmap
	meta   []byte // nil: meta unchanged
}

// commit makes every torrent's recent Puts durable: fdatasync its data,
// then (only if that succeeded) replace its bitmap, then its meta.
func (c *Cache) commit() error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	var jobs []commitJob
	c.mu.Lock()
	for _, st := range c.stores {
		if !st.dirty && !st.metaDirty {
			continue
		}
		j := commitJob{st: st}
		if st.dirty {
			j.bitmap = encodeBitmap(st.pieceSums, st.numPieces)
			j.fresh, st.unsynced = st.unsynced, nil
			st.dirty = false
		}
		if st.metaDirty {
			j.meta = marshalMeta(st.metaLocked())
			st.metaDirty = false
		}
		jobs = append(jobs, j)
	}
	c.mu.Unlock()
	slices.SortFunc(jobs, func(a, b commitJob) int { return slices.Compare(a.st.ih[:], b.st.ih[:]) })
	var errs []error
	for _, j := range jobs {
		errs = append(errs, c.commitOne(j))
	}
	err := errors.Join(errs...)
	if isFull(err) {
		c.warnFull(err)
	}
	return err
}

func (c *Cache) commitOne(j commitJob) error {
	st := j.st
	step := func(s string) error {
		if c.hook != nil {
			return c.hook(st.ih, s)
		}
		return nil
	}
	if j.bitmap != nil {
		err := c.datasync(j, step)
		if err == nil {
			err = writeAtomic(st.dir, piecesName, j.bitmap, step)
		}
		if err != nil {
			c.mu.Lock()
			st.dirty = true
			c.mu.Unlock()
			return fmt.Errorf("disk cache: commit %s: %w", st.dir, err)
		}
	}
	if j.meta != nil {
		err := step(stepWriteMeta)
		if err == nil {
			err = writeAtomic(st.dir, metaName, j.meta, step)
		}
		if err != nil {
			c.mu.Lock()
			st.metaDirty = true
			c.mu.Unlock()
			return fmt.Errorf("disk cache: write meta %s: %w", st.dir, err)
		}
	}
	return nil
}

// datasync fdatasyncs j's data file if it has fresh pieces. On failure the
// fresh pieces stay unsynced and lose their trust: the kernel may have
// dropped their dirty pages, so they are checked again (CRC-32C, else
// SHA-1) before their next read.
func (c *Cache) datasync(j commitJob, step func(string) error) error {
	if len(j.fresh) == 0 {
		return nil
	}
	st := j.st
	c.mu.Lock()
	f := st.data
	c.mu.Unlock()
	err := step(stepDatasync)
	if err == nil && f != nil {
		err = fdatasync(f)
	}
	if err != nil {
		c.mu.Lock()
		for _, p := range j.fresh {
			if hasBit(st.held, p) {
				clearBit(st.verified, p)
			}
		}
		st.unsynced = append(st.unsynced, j.fresh...)
		c.mu.Unlock()
	}
	return err
}

func (c *Cache) warnFull(err error) {
	if c.warnedFull.CompareAndSwap(false, true) {
		c.log.Warn("disk cache: filesystem full; pieces are not being stored", "dir", c.dir, "err", err)
	}
}
