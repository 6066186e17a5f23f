package utp

import (
	"time"
)

// The send path. Everything here runs with c.mu held.

// flush sends what the windows allow: lost packets first, then new data
// from the send buffer, then the FIN once the buffer is empty.
func (c *Conn) flush(now time.Time) {
	if c.state == stateSynSent || c.state == stateDone {
		return
	}
	bt := c.s.getBatch()
	c.flushInto(bt, now)
	c.sendBatch(bt)
	c.s.putBatch(bt)
}

func (c *Conn) flushInto(bt *batch, now time.Time) {
	for i := 0; c.resends > 0 && i < c.outq.len(); i++ {
		p := c.outq.at(i)
		if !p.needResend {
			continue
		}
		if !c.windowAllows(p.size, now) {
			return
		}
		c.transmit(bt, p, now)
	}
	for c.sendOff < len(c.sendBuf) && c.outq.len() < maxOutPackets {
		size := min(len(c.sendBuf)-c.sendOff, c.mss)
		if !c.windowAllows(size, now) {
			break
		}
		buf := c.s.getBuf(headerLen + size)
		copy((*buf)[headerLen:], c.sendBuf[c.sendOff:c.sendOff+size])
		c.sendOff += size
		c.outq.push(outPacket{buf: buf, seq: c.seqNr, typ: stData, size: size})
		c.seqNr++
		c.unacked += size
		c.transmit(bt, c.outq.back(), now)
	}
	switch {
	case c.sendOff == len(c.sendBuf):
		c.sendBuf, c.sendOff = c.sendBuf[:0], 0
	case c.sendOff > len(c.sendBuf)/2:
		k := copy(c.sendBuf, c.sendBuf[c.sendOff:])
		c.sendBuf, c.sendOff = c.sendBuf[:k], 0
	}
	if c.finQueued && !c.finSent && len(c.sendBuf) == 0 && c.outq.len() < maxOutPackets {
		c.outq.push(outPacket{buf: c.s.getBuf(headerLen), seq: c.seqNr, typ: stFin})
		c.seqNr++
		c.finSent = true
		c.transmit(bt, c.outq.back(), now)
	}
}

// batch collects datagrams for one destination so that they go out in one
// segmentation-offload send: all of one size, but the last may be shorter.
type batch struct {
	buf  []byte
	oob  []byte
	seg  int  // segment size
	n    int  // segments
	full bool // the last segment is short: nothing more fits
}

const (
	maxBatchSegs  = 64
	maxBatchBytes = 65000
)

// add appends b, or reports false if it does not fit.
func (bt *batch) add(b []byte) bool {
	if bt.n > 0 && (bt.full || len(b) > bt.seg || bt.n >= maxBatchSegs || len(bt.buf)+len(b) > maxBatchBytes) {
		return false
	}
	if bt.n == 0 {
		bt.seg = len(b)
	} else if len(b) < bt.seg {
		bt.full = true
	}
	bt.buf = append(bt.buf, b...)
	bt.n++
	return true
}

// emit sends b, through bt if it is not nil.
func (c *Conn) emit(bt *batch, b []byte) {
	if bt == nil {
		c.s.send(b, c.raddr)
		return
	}
	if !bt.add(b) {
		c.sendBatch(bt)
		bt.add(b)
	}
}

// sendBatch sends and empties bt.
func (c *Conn) sendBatch(bt *batch) {
	if bt == nil || bt.n == 0 {
		return
	}
	if bt.n == 1 {
		c.s.send(bt.buf, c.raddr)
	} else if err := writeGSO(c.s.m.uc, bt.buf, bt.oob, bt.seg, c.raddr); err != nil {
		c.s.m.gso.Store(false)
		c.s.cfg.Logger.Debug("utp: segmentation offload failed; sending datagrams one by one", "err", err)
		for b := bt.buf; len(b) > 0; {
			k := min(bt.seg, len(b))
			c.s.send(b[:k], c.raddr)
			b = b[k:]
		}
	}
	bt.buf, bt.n, bt.full = bt.buf[:0], 0, false
}

// windowAllows reports whether a packet of size payload bytes may be sent:
// the bytes in flight stay within the congestion window and the peer's
// advertised window. A lone packet may always go unless the peer's window
// is closed; then one probe goes out per timeout.
func (c *Conn) windowAllows(size int, now time.Time) bool {
	limit := min(int(c.cc.cwnd), c.peerWnd)
	if c.inflight+size <= limit {
		return true
	}
	if c.inflight > 0 {
		return false
	}
	if c.peerWnd >= size {
		return true
	}
	if c.zeroWndAt.IsZero() {
		c.zeroWndAt = now
		return false
	}
	if now.Sub(c.zeroWndAt) < c.cc.rto {
		return false
	}
	c.zeroWndAt = now
	return true
}

// header returns the header of a packet of type typ and sequence number
// seq sent now on an established connection: our send id, clocks, window
// and ack.
func (c *Conn) header(typ uint8, seq uint16, now time.Time) header {
	return header{
		typ:    typ,
		connID: c.sendID,
		ts:     c.s.micro(now),
		tsDiff: c.replyMicro,
		wnd:    c.recvWindow(),
		seq:    seq,
		ack:    c.ackNr,
	}
}

// stamp writes a fresh header into queued packet p and returns its bytes;
// the window it advertises is remembered as the last one the peer got.
func (c *Conn) stamp(p *outPacket, now time.Time) []byte {
	h := c.header(p.typ, p.seq, now)
	b := (*p.buf)[:headerLen+p.size]
	putHeader(b, &h)
	c.lastAdvWnd = h.wnd
	return b
}

// transmit sends (or resends) p with a fresh header, through bt if it is
// not nil.
func (c *Conn) transmit(bt *batch, p *outPacket, now time.Time) {
	c.emit(bt, c.stamp(p, now))
	if p.needResend {
		p.needResend = false
		c.resends--
	}
	if p.tx > 0 {
		c.stats.resent++
		p.resendMark = c.seqNr
	} else {
		c.stats.sent++
	}
	p.tx++
	p.sentAt = now
	c.inflight += p.size
	if c.rtoAt.IsZero() {
		c.armTimers(now)
	}
	if len(c.ooo) == 0 {
		c.ackPending = false // the packet carries the ack; a selective ack needs an ST_STATE
	}
}

// sendState sends an ST_STATE: an ack, with a selective ack if packets
// arrived out of order.
func (c *Conn) sendState(now time.Time) {
	h := c.header(stState, c.seqNr, now)
	var mask [maxSACKBytes]byte
	if len(c.ooo) > 0 {
		h.sack = c.buildSACK(mask[:])
	}
	c.scratch = appendHeader(c.scratch[:0], &h)
	c.s.send(c.scratch, c.raddr)
	c.ackPending = false
	c.lastAdvWnd = h.wnd
}

// buildSACK fills mask with the packets held out of order (bit i is
// ack_nr+2+i) and returns it cut to a multiple of four bytes.
func (c *Conn) buildSACK(mask []byte) []byte {
	hi := -1
	set := func(i int) {
		mask[i>>3] |= 1 << (i & 7)
		hi = max(hi, i)
	}
	if bits := len(mask) * 8; len(c.ooo) > bits {
		// probe the bitmask's range rather than range over a large map
		for i := range bits {
			if _, ok := c.ooo[c.ackNr+2+uint16(i)]; ok {
				set(i)
			}
		}
	} else {
		for seq := range c.ooo {
			if i := seqDiff(seq, c.ackNr+2); i >= 0 && i < bits {
				set(i)
			}
		}
	}
	if hi < 0 {
		return nil
	}
	return mask[:(hi/32+1)*4]
}

// flushAck sends an ack deferred while more packets were queued.
func (c *Conn) flushAck(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ackPending && c.state != stateDone && c.state != stateSynSent {
		c.sendState(now)
	}
}

// sendSyn sends (or resends) our SYN. Its connection id is our receive id.
func (c *Conn) sendSyn(now time.Time) {
	h := header{
		typ:    stSyn,
		connID: c.recvID,
		ts:     c.s.micro(now),
		wnd:    c.recvWindow(),
		seq:    c.synSeq,
	}
	var b [headerLen]byte
	putHeader(b[:], &h)
	c.s.send(b[:], c.raddr)
	c.synTx++
	c.synSentAt = now
	c.rtoAt = now.Add(c.cc.rto)
}

func (c *Conn) sendReset(now time.Time) {
	h := c.header(stReset, c.seqNr, now)
	h.wnd = 0
	var b [headerLen]byte
	putHeader(b[:], &h)
	c.s.send(b[:], c.raddr)
}

// sendKeepAlive sends an empty data packet with the sequence number of the
// last packet the peer acknowledged: a duplicate, which it acknowledges
// again, proving it is alive.
func (c *Conn) sendKeepAlive(now time.Time) {
	h := c.header(stData, c.seqNr-1, now)
	var b [headerLen]byte
	putHeader(b[:], &h)
	c.s.send(b[:], c.raddr)
	c.lastKeepAlive = now
	c.ackPending = false
}

// armTimers starts the retransmission timeout and the tail loss probe
// for the packets in flight, after progress.
func (c *Conn) armTimers(now time.Time) {
	c.rtoAt = now.Add(c.cc.rto)
	c.probeAt = time.Time{}
	if c.cc.haveRTT {
		c.probeAt = now.Add(max(2*c.cc.rtt, minProbe))
	}
}

// sendProbe resends the newest packet in flight when acks stopped coming
// (a tail loss probe, RFC 8985): its ack, with a selective ack, reveals
// losses that would otherwise wait for the retransmission timeout.
func (c *Conn) sendProbe(now time.Time) {
	c.probeAt = time.Time{}
	for i := c.outq.len() - 1; i >= 0; i-- {
		p := c.outq.at(i)
		if !p.inFlight() {
			continue
		}
		c.s.send(c.stamp(p, now), c.raddr)
		p.tx++ // no RTT sample from it
		c.stats.resent++
		c.stats.probes++
		return
	}
}
