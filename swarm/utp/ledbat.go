package utp

import (
	"time"
)

// Congestion control and retransmission timing. The types here belong to
// one connection and are used under its lock; they import no sync.
const (
	// gainBytes is the most the window grows per RTT when the measured
	// delay is zero (BEP 29's MAX_CWND_INCREASE_BYTES_PER_RTT).
	gainBytes = 3000

	initialRTO = time.Second
	minRTO     = 500 * time.Millisecond
	maxRTO     = 60 * time.Second

	// maxCwnd keeps the window finite; the peer's window limits it first.
	maxCwnd = 64 << 20

	// baseDelayStep is the length of one base-delay history bucket; the
	// base delay is the minimum over the current and the previous bucket.
	baseDelayStep = time.Minute

	// noSample is what uTorrent puts in timestamp_difference when it has no
	// measurement.
	noSample = 0x7fffffff
)

// delayHistory turns one-way delay samples (differences of two unrelated
// clocks, in microseconds, wrapping at 2^32) into queuing delays: a sample
// minus the smallest sample of the last one to two minutes.
type delayHistory struct {
	valid    bool
	cur      uint32 // minimum of the current bucket
	prev     uint32 // minimum of the previous bucket
	stepAt   time.Time
	recent   [3]uint32 // last queuing delays; LEDBAT acts on their minimum
	nRecent  int
	iRecent  int
	lastBase uint32
}

// add records sample and returns the current queuing delay in microseconds:
// the minimum of the last three samples, each less its base at the time.
func (d *delayHistory) add(sample uint32, now time.Time) uint32 {
	if !d.valid {
		d.valid = true
		d.cur, d.prev = sample, sample
		d.stepAt = now
	}
	if now.Sub(d.stepAt) >= baseDelayStep {
		d.prev, d.cur = d.cur, sample
		d.stepAt = now
	}
	if int32(sample-d.cur) < 0 {
		d.cur = sample
	}
	base := d.cur
	if int32(d.prev-base) < 0 {
		base = d.prev
	}
	d.lastBase = base
	delay := sample - base
	if int32(delay) < 0 {
		delay = 0
	}
	d.recent[d.iRecent] = delay
	d.iRecent = (d.iRecent + 1) % len(d.recent)
	d.nRecent = min(d.nRecent+1, len(d.recent))
	m := d.recent[0]
	for _, v := range d.recent[1:d.nRecent] {
		m = min(m, v)
	}
	return m
}

// congestion is LEDBAT (RFC 6817, as BEP 29 applies it) with a TCP-like slow
// start, plus the RTT estimator and retransmission timeout of BEP 29.
type congestion struct {
	mss       int     // our largest payload
	target    float64 // target queuing delay, microseconds
	cwnd      float64 // congestion window, bytes
	ssthresh  float64 // slow start ends above this; 0 means not yet known
	slowStart bool
	lossSeq   uint16 // no further window cut for losses of packets up to here

	delays delayHistory

	haveRTT bool
	rtt     time.Duration
	rttVar  time.Duration
	rto     time.Duration // current timeout, with back-off
}

func newCongestion(mss int, target time.Duration, seq uint16) congestion {
	return congestion{
		mss:       mss,
		target:    float64(target.Microseconds()),
		cwnd:      float64(2 * mss),
		slowStart: true,
		lossSeq:   seq - 1,
		rto:       initialRTO,
	}
}

// rttSample feeds one round-trip measurement of a packet sent once.
func (cc *congestion) rttSample(r time.Duration) {
	if r < 0 {
		return
	}
	if !cc.haveRTT {
		cc.haveRTT = true
		cc.rtt, cc.rttVar = r, r/2
	} else {
		delta := cc.rtt - r
		if delta < 0 {
			delta = -delta
		}
		cc.rttVar += (delta - cc.rttVar) / 4
		cc.rtt += (r - cc.rtt) / 8
	}
	cc.rto = min(max(cc.rtt+4*cc.rttVar, minRTO), maxRTO)
}

// onAck grows or shrinks the window after acked bytes were acknowledged.
// flight is the bytes in flight before the ack, inflight after it. delay is
// the current queuing delay in microseconds.
func (cc *congestion) onAck(acked, flight, inflight int, delay uint32) {
	if acked <= 0 || flight <= 0 {
		return
	}
	d := float64(delay)
	if cc.slowStart && d >= cc.target {
		cc.slowStart = false
		cc.ssthresh = cc.cwnd / 2
	}
	delayFactor := min(max((cc.target-d)/cc.target, -1), 1)
	windowFactor := float64(acked) / float64(flight)
	gain := gainBytes * delayFactor * windowFactor

	// Only an application that fills the window may grow it (RFC 6817
	// section 2.4.1).
	if float64(inflight+acked+cc.mss) > cc.cwnd {
		if cc.slowStart {
			if cc.ssthresh > 0 && cc.cwnd+float64(acked) > cc.ssthresh {
				cc.slowStart = false
			} else {
				gain = max(gain, float64(acked))
			}
		}
		cc.cwnd += gain
	}
	cc.cwnd = min(max(cc.cwnd, float64(cc.mss)), maxCwnd)
}

// onLoss halves the window for a lost packet seq, at most once per window
// of data: next is the sequence number of the next new packet.
func (cc *congestion) onLoss(seq, next uint16) {
	if !seqLess(cc.lossSeq, seq) {
		return
	}
	cc.cwnd = max(cc.cwnd/2, float64(cc.mss))
	cc.ssthresh = cc.cwnd
	cc.slowStart = false
	cc.lossSeq = next - 1
}

// onTimeout collapses the window to one packet, restarts slow start and
// backs the timeout off.
func (cc *congestion) onTimeout(next uint16) {
	cc.ssthresh = max(cc.cwnd/2, float64(2*cc.mss))
	cc.cwnd = float64(cc.mss)
	cc.slowStart = true
	cc.lossSeq = next - 1
	cc.rto = min(2*cc.rto, maxRTO)
}
