package mse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// PhaseTimeout bounds each phase of a handshake (the key exchange; the rest)
// whatever the caller's context says; a shorter context deadline wins.
const PhaseTimeout = 10 * time.Second

// MaxIA bounds the initial payload (IA) in step 3. The spec allows 65535
// bytes; real initiators send a 68-byte BitTorrent handshake, perhaps with
// a few messages after it, so 16 KiB is generous while keeping what an
// unauthenticated peer can make us hold per handshake small. Accept refuses
// a longer IA and Initiate refuses to send one.
const MaxIA = 16 << 10

// config holds what tests vary; the exported functions use defaultConfig.
type config struct {
	priv  []byte // nil: a random private key
	padAB int    // length of PadA/PadB; negative: random in [0, 512]
	padCD int    // length of PadC/PadD (the spec's current practice is 0)

	// privFor, for a responder, picks its private key from Ya (tests force
	// a secret with a leading zero byte).
	privFor func(ya []byte) []byte
}

func defaultConfig() config { return config{padAB: -1} }

// session is one handshake's connection state: the context's hold on the
// conn's deadlines and the bytes read so far.
type session struct {
	ctx  context.Context
	conn net.Conn
	role string // "initiator" or "responder", for error messages
	stop func() bool

	// buf holds every byte read from conn since the handshake began;
	// its capacity is the most the handshake may buffer.
	buf []byte
}

func newSession(ctx context.Context, conn net.Conn, role string, bufCap int) *session {
	s := &session{ctx: ctx, conn: conn, role: role, buf: make([]byte, 0, bufCap)}
	// A deadline in the past unblocks every pending Read and Write at once.
	s.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return s
}

// phase starts a phase: its deadline is PhaseTimeout from now or the
// context's, whichever is sooner. The context is checked after the
// deadline is set, so a cancellation racing with this call either is seen
// here or its AfterFunc runs later and overrides the deadline.
func (s *session) phase(name string) error {
	d := time.Now().Add(PhaseTimeout)
	if cd, ok := s.ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	if err := s.conn.SetDeadline(d); err != nil {
		return s.errorf(err, "%s: setting deadline", name)
	}
	if err := s.ctx.Err(); err != nil {
		return s.errorf(err, "%s", name)
	}
	return nil
}

// finish ends a successful handshake: the context lets go of the conn and
// the deadline is cleared. It fails if the context fired in the meantime
// (its deadline may already have been forced into the past).
func (s *session) finish() error {
	if !s.stop() {
		return s.errorf(s.ctx.Err(), "handshake done but context ended")
	}
	if err := s.conn.SetDeadline(time.Time{}); err != nil {
		return s.errorf(err, "clearing deadline")
	}
	return nil
}

// abort ends a failed handshake; the caller closes conn.
func (s *session) abort() { s.stop() }

// errorf wraps err with the role and what was being done; when the context
// has ended, its error is wrapped too so that errors.Is finds
// context.DeadlineExceeded or context.Canceled behind a conn timeout.
func (s *session) errorf(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if cerr := s.ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("mse %s: %s: %w (%w)", s.role, what, err, cerr)
	}
	return fmt.Errorf("mse %s: %s: %w", s.role, what, err)
}

// fill reads until at least n bytes are buffered, never letting the buffer
// grow past limit (n <= limit <= cap(buf)).
func (s *session) fill(n, limit int) error {
	for len(s.buf) < n {
		m, err := s.conn.Read(s.buf[len(s.buf):limit])
		s.buf = s.buf[:len(s.buf)+m]
		if err != nil {
			if len(s.buf) >= n {
				return nil // the error will come back on the next read
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// write writes all of p.
func (s *session) write(p []byte) error {
	_, err := s.conn.Write(p)
	return err
}

// leftover returns a copy of the buffered bytes from off on: the start of
// the payload stream, read along with the handshake.
func (s *session) leftover(off int) []byte {
	if off >= len(s.buf) {
		return nil
	}
	return append([]byte(nil), s.buf[off:]...)
}
