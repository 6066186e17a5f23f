package utp

import (
	"testing"
	"time"
)

func TestCongestion(t *testing.T) {
	cc := newCongestion(1000, 100*time.Millisecond, 10)
	cc.rttSample(time.Millisecond)
	if cc.rto != minRTO {
		t.Errorf("rto %v with a 1 ms RTT, want the 500 ms floor", cc.rto)
	}
	cc.rttSample(time.Second)
	if cc.rto <= time.Second || cc.rto > maxRTO {
		t.Errorf("rto %v after a 1 s sample", cc.rto)
	}

	// slow start doubles per window while the delay is low
	cc.cwnd = 10_000
	cc.onAck(10_000, 10_000, 0, 0)
	if cc.cwnd != 20_000 || !cc.slowStart {
		t.Errorf("cwnd %v slowStart %v after a window at zero delay", cc.cwnd, cc.slowStart)
	}
	// delay above target ends slow start and shrinks the window
	cc.onAck(10_000, 20_000, 10_000, 200_000)
	if cc.slowStart || cc.cwnd >= 20_000 {
		t.Errorf("cwnd %v slowStart %v at twice the target delay", cc.cwnd, cc.slowStart)
	}
	// without a full window the window does not grow
	before := cc.cwnd
	cc.onAck(1000, 2000, 0, 0)
	if cc.cwnd != before {
		t.Errorf("cwnd grew from %v to %v while application-limited", before, cc.cwnd)
	}
	// a loss halves it, once per window
	cc.cwnd = 40_000
	cc.onLoss(20, 30)
	cc.onLoss(25, 31)
	if cc.cwnd != 20_000 {
		t.Errorf("cwnd %v after two losses in one window, want 20000", cc.cwnd)
	}
	cc.onLoss(30, 40)
	if cc.cwnd != 10_000 {
		t.Errorf("cwnd %v after a loss in the next window, want 10000", cc.cwnd)
	}
	// a timeout collapses it to one packet and backs off
	rto := cc.rto
	cc.onTimeout(50)
	if cc.cwnd != 1000 || cc.rto != min(2*rto, maxRTO) || !cc.slowStart {
		t.Errorf("after a timeout: cwnd %v rto %v slowStart %v", cc.cwnd, cc.rto, cc.slowStart)
	}
}

func TestDelayHistory(t *testing.T) {
	var d delayHistory
	now := time.Unix(0, 0)
	low := uint32(0xfffffff0) // clock offsets near the wrap: low is "less" than 0x10
	at := func(v uint32) uint32 { return low + v }
	if got := d.add(0x10, now); got != 0 {
		t.Errorf("first sample: delay %d", got)
	}
	if got := d.add(low, now); got != 0 {
		t.Errorf("a lower base across the wrap: delay %d", got)
	}
	d.add(at(5000), now)
	d.add(at(6000), now)
	if got := d.add(at(7000), now); got != 5000 {
		t.Errorf("delay %d, want the minimum of the last three, 5000", got)
	}
	// the base forgets samples older than two minutes
	now = now.Add(61 * time.Second)
	d.add(at(9000), now)
	now = now.Add(61 * time.Second)
	d.add(at(9000), now)
	if d.lastBase != at(9000) {
		t.Errorf("base %#x after two minutes, want %#x", d.lastBase, at(9000))
	}
}
