package utp

import (
	"sync"
	"time"
)

// deadline is a settable point in time whose passing closes a channel, so
// a blocked Read or Write can select on it. Its zero value has no deadline.
type deadline struct {
	mu     sync.Mutex // guards timer and c against set and wait callers
	timer  *time.Timer
	c      chan struct{} // closed when the deadline has passed
	closed bool          // c is closed
	gen    uint64        // counts set calls
}

// set moves the deadline; the zero time removes it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++ // a timer of an earlier set that is firing right now must not close c
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.c == nil || d.closed {
		d.c = make(chan struct{})
		d.closed = false
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.c)
		d.closed = true
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !d.closed {
			close(d.c)
			d.closed = true
		}
	})
}

// wait returns a channel that is closed once the deadline has passed.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil {
		d.c = make(chan struct{})
	}
	return d.c
}

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// stop releases the timer.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// deadlines are a connection's read and write deadlines, with the
// net.Conn / net.PacketConn methods that set them.
type deadlines struct {
	rdl, wdl deadline
}

// SetDeadline sets both deadlines.
func (d *deadlines) SetDeadline(t time.Time) error {
	d.rdl.set(t)
	d.wdl.set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (d *deadlines) SetReadDeadline(t time.Time) error {
	d.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline; for the DHT's view of the
// socket it is honoured before a write starts (UDP writes do not block for
// long once started).
func (d *deadlines) SetWriteDeadline(t time.Time) error {
	d.wdl.set(t)
	return nil
}

// stop stops both deadlines' timers.
func (d *deadlines) stop() {
	d.rdl.stop()
	d.wdl.stop()
}
