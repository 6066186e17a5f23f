package peerconn

import (
	"bufio"
	"time"

	"github.com/btfs/btfs/swarm/wire"
)

// WriteLoop sends queued messages and blocks and keeps the connection
// alive, until the connection ends. Each write has its own deadline, set
// after the upload limiter has let the block go, so a slow upload limit
// never times a healthy peer out.
func (c *Conn) WriteLoop() {
	w := bufio.NewWriterSize(c.conn, 64*1024)
	keep := time.NewTicker(c.cfg.KeepAlive)
	defer keep.Stop()
	var scratch []byte
	block := make([]byte, wire.MaxBlockLen)
	var batch []item
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-keep.C:
			scratch, _ = (&wire.Message{KeepAlive: true}).AppendBinary(scratch[:0])
			if !c.write(w, scratch) {
				return
			}
		case <-c.sig:
		}
		c.mu.Lock()
		batch, c.q = c.q, batch[:0]
		c.nmsg = 0
		c.mu.Unlock()
		for i := range batch {
			it := &batch[i]
			if it.serve {
				var ok bool
				if scratch, ok = c.serve(w, it.msg, block, scratch); !ok {
					return
				}
			} else {
				var err error
				if scratch, err = it.msg.AppendBinary(scratch[:0]); err == nil && !c.write(w, scratch) {
					return
				}
			}
			*it = item{}
		}
		if !c.flush(w) {
			return
		}
	}
}

// serve reads one requested block and writes it (or a reject).
func (c *Conn) serve(w *bufio.Writer, req wire.Message, block, scratch []byte) ([]byte, bool) {
	d := block[:req.Length]
	ok, err := false, error(nil)
	if c.cfg.Blocks != nil {
		ok, err = c.cfg.Blocks.ReadBlock(int(req.Index), int(req.Begin), d)
	}
	if err != nil || !ok {
		c.served(0)
		if !c.cfg.Fast {
			return scratch, true
		}
		scratch = wire.AppendRequest(scratch[:0], wire.Reject, req.Index, req.Begin, req.Length)
		return scratch, c.write(w, scratch)
	}
	if c.cfg.Up != nil {
		// Flush what is buffered, then wait for the limiter with no
		// deadline pending: the deadline covers the write, not the wait.
		if !c.flush(w) {
			return scratch, false
		}
		if err := c.cfg.Up.WaitN(c.ctx, len(d)); err != nil {
			return scratch, false
		}
		c.renew = time.Time{} // the wait may have used up the deadline

	}
	scratch = wire.AppendPiece(scratch[:0], req.Index, req.Begin, d)
	if !c.write(w, scratch) {
		return scratch, false
	}
	c.uploaded.Add(int64(len(d)))
	c.served(len(d))
	return scratch, true
}

func (c *Conn) served(n int) {
	c.queued.Add(-1)
	if c.cfg.OnServed != nil {
		c.cfg.OnServed(n)
	}
}

// deadline gives the next write at least half of WriteTimeout. Setting a
// deadline costs a timer update, so it is moved only when half spent.
func (c *Conn) deadline() {
	now := time.Now()
	if now.After(c.renew) {
		_ = c.conn.SetWriteDeadline(now.Add(c.cfg.WriteTimeout))
		c.renew = now.Add(c.cfg.WriteTimeout / 2)
	}
}

// write buffers b under a live write deadline.
func (c *Conn) write(w *bufio.Writer, b []byte) bool {
	c.deadline()
	if _, err := w.Write(b); err != nil {
		c.closeWith(err)
		return false
	}
	return true
}

func (c *Conn) flush(w *bufio.Writer) bool {
	c.deadline()
	if err := w.Flush(); err != nil {
		c.closeWith(err)
		return false
	}
	return true
}
