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
