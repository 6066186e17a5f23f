package main

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/btfs/btfs/integration/hostile/report"
)

// stats counts what an attack did; safe for concurrent use.
type stats struct {
	start time.Time

	dials        atomic.Int64 // connections we attempted
	dialErrors   atomic.Int64 // attempts that did not connect
	inbound      atomic.Int64 // connections the target made to our listener
	handshakes   atomic.Int64 // handshakes completed (theirs received)
	refused      atomic.Int64 // connected, then closed before their handshake arrived
	hsTimeouts   atomic.Int64 // their handshake did not come in time
	closedByPeer atomic.Int64 // closed by the target after the handshake
	firstRefused atomic.Int64 // ns since start of the first refusal; 0: none
	firstClosed  atomic.Int64 // ns since start of the first close by the target; 0: none
	longest      atomic.Int64 // ns: the longest session after the handshake
	msgsSent     atomic.Int64
	bytesSent    atomic.Int64
	bytesRecv    atomic.Int64
	requestsRecv atomic.Int64 // request messages the target sent us
	blocksSent   atomic.Int64 // piece messages sent
	badBlocks    atomic.Int64 // of which garbage
	writeStalls  atomic.Int64 // writes that timed out: the target stopped reading
}

func newStats() *stats { return &stats{start: time.Now()} }

// markFirst records the time since start in v unless already set.
func (s *stats) markFirst(v *atomic.Int64) {
	v.CompareAndSwap(0, max(1, int64(time.Since(s.start))))
}

// noteSession records a session's length after its handshake.
func (s *stats) noteSession(d time.Duration) {
	for {
		old := s.longest.Load()
		if int64(d) <= old || s.longest.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

func secs(ns int64) float64 {
	if ns == 0 {
		return -1
	}
	return float64(ns) / 1e9
}

func (s *stats) summary(attack string) report.Summary {
	return report.Summary{
		Attack:       attack,
		Seconds:      time.Since(s.start).Seconds(),
		Dials:        s.dials.Load(),
		DialErrors:   s.dialErrors.Load(),
		Inbound:      s.inbound.Load(),
		Handshakes:   s.handshakes.Load(),
		Refused:      s.refused.Load(),
		HSTimeouts:   s.hsTimeouts.Load(),
		ClosedByPeer: s.closedByPeer.Load(),
		FirstRefused: secs(s.firstRefused.Load()),
		FirstClosed:  secs(s.firstClosed.Load()),
		Longest:      float64(s.longest.Load()) / 1e9,
		MsgsSent:     s.msgsSent.Load(),
		BytesSent:    s.bytesSent.Load(),
		BytesRecv:    s.bytesRecv.Load(),
		RequestsRecv: s.requestsRecv.Load(),
		BlocksSent:   s.blocksSent.Load(),
		BadBlocks:    s.badBlocks.Load(),
		WriteStalls:  s.writeStalls.Load(),
	}
}

// countConn counts the bytes through a connection.
type countConn struct {
	net.Conn
	st *stats
}

func (c countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.st.bytesRecv.Add(int64(n))
	return n, err
}

func (c countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.st.bytesSent.Add(int64(n))
	return n, err
}

// closedByPeer reports whether err means the other side ended the
// connection (as opposed to our deadline or our own close).
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// timedOut reports whether err is a deadline.
func timedOut(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
