package utp

import (
	"time"
)

// The receive path: packets from the dispatcher goroutine, and Read's side
// of the receive buffer.

// acceptSyn initializes an incoming connection from the peer's SYN. The
// connection is not yet visible to other goroutines.
func (c *Conn) acceptSyn(h *header, now time.Time) {
	c.ackNr = h.seq
	c.synSeq = h.seq
	if h.ts != 0 {
		c.replyMicro = c.s.micro(now) - h.ts
	}
}

// handleDupSyn answers a retransmitted SYN: our ST_STATE was lost.
func (c *Conn) handleDupSyn(h *header, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.outgoing && c.state != stateDone && h.seq == c.synSeq {
		c.sendState(now)
	}
}

func (c *Conn) handleReset(h *header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDone || seqLess(c.seqNr-1, h.ack) {
		return // a reset for a packet we never sent
	}
	c.terminate(ErrReset)
}

// handlePacket processes a packet for this connection. kept reports
// whether buf now holds received data; ack whether an ack is owed.
func (c *Conn) handlePacket(h *header, payload []byte, buf *[]byte, now time.Time) (kept, ack bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateDone:
		return false, false
	case stateSynSent:
		if h.ack != c.synSeq || h.typ == stReset || h.typ == stSyn {
			return false, false
		}
		c.establish(h, now)
	}
	if !c.processAck(h, now) {
		return false, false
	}
	c.lastRecv = now
	c.stats.received++
	if h.ts != 0 {
		c.replyMicro = c.s.micro(now) - h.ts
	}
	if c.state == stateSynRecv {
		c.state = stateConnected
		c.confirmedFlag.Store(true)
	}
	if h.typ == stData || h.typ == stFin {
		kept = c.processData(h, payload, buf)
	}
	c.flush(now)
	if c.ackNow && c.ackPending {
		c.sendState(now)
	}
	c.ackNow = false
	c.checkDone()
	return kept, c.ackPending && c.state != stateDone
}

// establish completes a dial on the first packet that acknowledges our SYN.
func (c *Conn) establish(h *header, now time.Time) {
	c.state = stateConnected
	c.confirmedFlag.Store(true)
	// The peer's ST_STATE carries the sequence number of its first data
	// packet; a data packet carries its own.
	c.ackNr = h.seq - 1
	if c.synTx == 1 {
		c.cc.rttSample(now.Sub(c.synSentAt))
	} else {
		c.cc.rto = initialRTO
	}
	c.rtoAt = time.Time{}
	c.timeouts = 0
	close(c.establishedC)
	c.s.cfg.Logger.Debug("utp: connected", "addr", c.raddr, "id", c.recvID)
}

// processAck applies the packet's ack_nr, selective ack, window and delay
// sample. It returns false for an ack of data we never sent: the whole
// packet is then ignored.
func (c *Conn) processAck(h *header, now time.Time) bool {
	n := c.outq.len()
	acked := c.seqNr - uint16(n) - 1 // highest sequence number acked so far
	d := seqDiff(h.ack, acked)
	if d > n {
		c.debug("utp: ignoring an ack of unsent data", "ack", h.ack, "acked", acked, "outq", n)
		return false
	}
	if d < 0 {
		return true // an old packet: its ack and window are stale
	}
	c.peerWnd = int(h.wnd)
	if c.peerWnd >= c.mss {
		c.zeroWndAt = time.Time{}
	}
	flight := c.inflight
	ackedBytes := 0
	// One RTT sample per ack: the packet sent most recently among those
	// newly acknowledged. Older ones may have waited behind a loss.
	var sentAt time.Time
	if d > 0 {
		for range d {
			p := c.outq.popFront()
			if !p.sacked && p.tx == 1 && p.sentAt.After(sentAt) {
				sentAt = p.sentAt
			}
			ackedBytes += c.retire(&p)
		}
		c.dupAcks = 0
		c.timeouts = 0
		c.rtoAt, c.probeAt = time.Time{}, time.Time{}
		if c.outq.len() > 0 {
			c.armTimers(now)
		}
		signal(c.writeC)
	} else if h.typ == stState && n > 0 {
		c.dupAcks++
	}
	if h.sack != nil && c.outq.len() > 0 {
		b, t := c.processSACK(h, now)
		ackedBytes += b
		if t.After(sentAt) {
			sentAt = t
		}
	}
	if c.dupAcks >= 3 && c.outq.len() > 0 {
		if p := c.outq.front(); p.inFlight() && !p.fastResent {
			c.markLost(p)
		}
	}
	if !sentAt.IsZero() {
		c.cc.rttSample(now.Sub(sentAt))
	}
	if h.tsDiff != 0 && h.tsDiff != noSample {
		delay := c.cc.delays.add(h.tsDiff, now)
		if c.cc.haveRTT {
			delay = min(delay, uint32(c.cc.rtt.Microseconds()))
		}
		c.cc.onAck(ackedBytes, flight, c.inflight, delay)
	}
	return true
}

// retire releases an acknowledged packet and returns the bytes it newly
// acknowledges.
func (c *Conn) retire(p *outPacket) int {
	n := 0
	if !p.sacked {
		n = p.size
		if p.inFlight() {
			c.inflight -= p.size
		}
	}
	if p.needResend {
		c.resends--
	}
	c.unacked -= p.size
	if p.typ == stFin {
		c.finAcked = true
	}
	c.s.putBuf(p.buf)
	return n
}

// processSACK marks the selectively acknowledged packets and declares lost
// the packets the selective ack shows missing. It returns the bytes newly
// acknowledged and the latest send time among packets sent once and newly
// acknowledged.
func (c *Conn) processSACK(h *header, now time.Time) (ackedBytes int, sentAt time.Time) {
	n := c.outq.len()
	first := c.seqNr - uint16(n)
	base := h.ack + 2 // bit 0 is ack_nr+2: ack_nr+1 is missing by definition
	hi := -1
	for i := range len(h.sack) * 8 {
		if h.sack[i>>3]&(1<<(i&7)) == 0 {
			continue
		}
		idx := seqDiff(base+uint16(i), first)
		if idx < 0 {
			continue
		}
		if idx >= n {
			break
		}
		hi = idx
		p := c.outq.at(idx)
		if p.sacked || p.tx == 0 {
			continue
		}
		if p.needResend {
			p.needResend = false
			c.resends--
		} else {
			c.inflight -= p.size
		}
		p.sacked = true
		ackedBytes += p.size
		if p.tx == 1 && p.sentAt.After(sentAt) {
			sentAt = p.sentAt
		}
	}
	if ackedBytes > 0 {
		c.armTimers(now)
	}
	c.detectLoss(hi)
	return ackedBytes, sentAt
}

// detectLoss declares lost each packet in outq[:hi] that is in flight and
// has at least three selectively acknowledged packets after it; a packet
// already resent needs three acknowledged packets sent after its resend.
// When fewer than three packets follow a packet and nothing more is
// waiting to be sent, all of them being acknowledged suffices (early
// retransmit, RFC 5827).
func (c *Conn) detectLoss(hi int) {
	if hi < 1 {
		return
	}
	n := c.outq.len()
	first := c.seqNr - uint16(n)
	// after[i] counts the acknowledged packets in outq[i:hi+1].
	if cap(c.lossScratch) < hi+2 {
		c.lossScratch = make([]int32, hi+2)
	}
	after := c.lossScratch[:hi+2]
	after[hi+1] = 0
	for i := hi; i >= 0; i-- {
		after[i] = after[i+1]
		if c.outq.at(i).sacked {
			after[i]++
		}
	}
	idle := c.sendOff == len(c.sendBuf)
	for i := range hi {
		p := c.outq.at(i)
		if !p.inFlight() {
			continue
		}
		if !p.fastResent {
			follow := n - 1 - i
			if after[i+1] >= 3 || (idle && follow < 3 && int(after[i+1]) == follow) {
				c.markLost(p)
			}
			continue
		}
		if m := seqDiff(p.resendMark, first); m > i && m <= hi && after[m] >= 3 {
			c.markLost(p)
		}
	}
}

// markLost queues p for retransmission and cuts the window.
func (c *Conn) markLost(p *outPacket) {
	p.needResend = true
	p.fastResent = true
	c.stats.fastResends++
	c.resends++
	c.inflight -= p.size
	c.cc.onLoss(p.seq, c.seqNr)
}

// reorderLimit is how far past ack_nr+1 a packet may be and still be kept.
func (c *Conn) reorderLimit() int {
	return min(max(16, c.s.cfg.RecvBuffer/256), 4096)
}

// processData takes in an ST_DATA or ST_FIN packet and reports whether buf
// was kept.
func (c *Conn) processData(h *header, payload []byte, buf *[]byte) (kept bool) {
	c.ackPending = true
	d := seqDiff(h.seq, c.ackNr+1)
	if d < 0 {
		return false // a duplicate: ack it again
	}
	if c.gotFin && seqLess(c.finSeq, h.seq) {
		return false // after the end of the stream
	}
	if d >= c.reorderLimit() {
		c.debug("utp: dropping a packet too far ahead", "seq", h.seq, "ack", c.ackNr)
		return false
	}
	if h.typ == stFin && !c.gotFin {
		c.gotFin = true
		c.finSeq = h.seq
		for seq, ch := range c.ooo {
			if seqLess(c.finSeq, seq) {
				delete(c.ooo, seq)
				c.oooBytes -= len(ch.data)
				c.s.putBuf(ch.buf)
			}
		}
	}
	discard := c.appClosed
	if !discard && c.rqBytes+c.oooBytes+len(payload) > c.s.cfg.RecvBuffer {
		c.debug("utp: receive buffer full", "seq", h.seq, "ack", c.ackNr)
		return false // the peer ignores our window
	}
	if d > 0 {
		if _, dup := c.ooo[h.seq]; dup {
			return false
		}
		c.ackNow = true // a selective ack tells the sender what is missing
		var ch chunk
		if !discard && len(payload) > 0 {
			if len(payload) >= smallPayload {
				ch, kept = chunk{buf: buf, data: payload}, true
			} else {
				ch = chunk{data: append([]byte(nil), payload...)}
			}
		}
		if c.ooo == nil {
			c.ooo = make(map[uint16]chunk)
		}
		c.ooo[h.seq] = ch
		c.oooBytes += len(ch.data)
		return kept
	}
	if !discard && len(payload) > 0 {
		kept = c.enqueueRead(buf, payload)
	}
	c.ackNr++
	if len(c.ooo) > 0 {
		c.ackNow = true // a hole is filled
	}
	for len(c.ooo) > 0 {
		ch, ok := c.ooo[c.ackNr+1]
		if !ok {
			break
		}
		delete(c.ooo, c.ackNr+1)
		c.oooBytes -= len(ch.data)
		if len(ch.data) == 0 || !c.enqueueRead(ch.buf, ch.data) {
			c.s.putBuf(ch.buf)
		}
		c.ackNr++
	}
	if len(c.ooo) == 0 {
		c.ooo = nil
	}
	if c.gotFin && !seqLess(c.ackNr, c.finSeq) {
		c.eof = true
	}
	signal(c.readC)
	return kept
}

// enqueueRead appends data to the read queue and reports whether buf (which
// data aliases, if not nil) was kept. Small payloads are copied into the
// spare room of the last chunk.
func (c *Conn) enqueueRead(buf *[]byte, data []byte) bool {
	c.rqBytes += len(data)
	if len(data) >= smallPayload && buf != nil {
		c.rq.push(chunk{buf: buf, data: data})
		return true
	}
	if c.rq.len() > 0 {
		t := c.rq.back()
		if t.buf != nil && len(t.data)+len(data) <= cap(t.data) {
			t.data = append(t.data, data...)
			return false
		}
	}
	nb := c.s.getBuf(max(len(data), 1))
	t := chunk{buf: nb, data: (*nb)[:0]}
	if cap(*nb) != c.s.bufLen {
		t.buf = nil
	}
	t.data = append(t.data, data...)
	c.rq.push(t)
	return false
}

// readLocked copies queued data into b.
func (c *Conn) readLocked(b []byte) int {
	n := 0
	for n < len(b) && c.rq.len() > 0 {
		ch := c.rq.front()
		k := copy(b[n:], ch.data)
		n += k
		ch.data = ch.data[k:]
		if len(ch.data) == 0 {
			c.s.putBuf(ch.buf)
			c.rq.popFront()
		}
	}
	c.rqBytes -= n
	return n
}

// releaseRead drops all received data.
func (c *Conn) releaseRead() {
	for c.rq.len() > 0 {
		ch := c.rq.popFront()
		c.s.putBuf(ch.buf)
	}
	c.rq.reset()
	c.rqBytes = 0
	for _, ch := range c.ooo {
		c.s.putBuf(ch.buf)
	}
	c.ooo, c.oooBytes = nil, 0
}

// recvWindow is the receive buffer space we advertise.
func (c *Conn) recvWindow() uint32 {
	return uint32(max(0, c.s.cfg.RecvBuffer-c.rqBytes-c.oooBytes))
}

// maybeUpdateWindow tells the peer that Read made room, if the window we
// last advertised was small enough to slow it down.
func (c *Conn) maybeUpdateWindow(now time.Time) {
	if c.state != stateConnected && c.state != stateSynRecv {
		return
	}
	w := c.recvWindow()
	low := uint32(2 * c.mss)
	if w >= c.lastAdvWnd+uint32(c.s.cfg.RecvBuffer/4) || (c.lastAdvWnd < low && w >= low) {
		c.sendState(now)
	}
}
