package utp

import (
	"log/slog"
	"time"
)

// Defaults for Config's zero values.
const (
	DefaultMaxConns      = 1000
	DefaultAcceptBacklog = 64
	DefaultOtherQueue    = 256
	DefaultRecvBuffer    = 1 << 20
	DefaultSendBuffer    = 1 << 20
	DefaultPayloadSize   = 1400
	DefaultDialTimeout   = 6 * time.Second
	DefaultIdleTimeout   = 60 * time.Second
	DefaultKeepAlive     = 20 * time.Second
	DefaultCloseTimeout  = 10 * time.Second
	DefaultSocketBuffer  = 4 << 20
	DefaultTargetDelay   = 100 * time.Millisecond
	DefaultResetRate     = 20
)

// Config bounds a Mux. The zero value is usable: every zero field takes its
// default.
type Config struct {
	// Logger receives debug-level events (connections opened and ended,
	// packets dropped). Nil discards.
	Logger *slog.Logger

	// MaxConns caps the uTP connections tracked at once: dialed, accepted,
	// waiting in the accept backlog, and closed ones still delivering their
	// last data. A SYN that arrives when the cap is reached evicts a closed,
	// lingering connection if there is one and is dropped otherwise; Dial
	// fails. Default 1000.
	MaxConns int

	// AcceptBacklog caps the incoming connections waiting for Accept.
	// SYNs beyond it are dropped. Default 64.
	AcceptBacklog int

	// OtherQueue is the number of non-uTP datagrams Other() buffers for
	// its reader; more are dropped. Default 256.
	OtherQueue int

	// RecvBuffer is the per-connection receive buffer in bytes: data
	// received but not yet Read, in order or not. It is what we advertise
	// as our window. Default 1 MiB.
	RecvBuffer int

	// SendBuffer is the per-connection send buffer in bytes: data written
	// but not yet acknowledged. Write blocks while it is full. Default 1 MiB.
	SendBuffer int

	// PayloadSize is the largest payload of a data packet we send; with
	// the 20-byte header, IP and UDP headers it fits a 1500-byte MTU.
	// Default 1400; it is clamped to [150, 65000]. uTP datagrams longer
	// than 2048 bytes (or than PayloadSize plus 54 bytes of headers, if
	// that is more) are dropped: real peers stay within an Ethernet MTU.
	PayloadSize int

	// DialTimeout bounds Dial when its context has no deadline. Default 6 s.
	DialTimeout time.Duration

	// IdleTimeout ends a connection that received no packet for this
	// long. Keep-alives make a live but silent peer answer well within it.
	// Default 60 s.
	IdleTimeout time.Duration

	// KeepAlive is how long a connection may go without sending before it
	// sends a keep-alive (a duplicate of an already acknowledged, empty
	// data packet, which the peer acknowledges). Default 20 s.
	KeepAlive time.Duration

	// CloseTimeout bounds how long a closed connection keeps trying to
	// deliver its buffered data and FIN before it gives up with a reset.
	// Close itself never waits for this. Default 10 s.
	CloseTimeout time.Duration

	// SocketBuffer is the kernel buffer size (SO_RCVBUF and SO_SNDBUF)
	// requested for the shared packet conn, if it supports SetReadBuffer
	// and SetWriteBuffer; the kernel may clamp it. Negative leaves the
	// socket alone. Default 4 MiB.
	SocketBuffer int

	// TargetDelay is LEDBAT's target queuing delay. Default 100 ms.
	TargetDelay time.Duration

	// NoOffload disables UDP segmentation offload and receive coalescing
	// (Linux), with which one system call sends or receives a batch of
	// datagrams. They are used when the socket supports them.
	NoOffload bool

	// ResetRate is the number of ST_RESET replies per second we send to
	// packets for unknown connections (burst of the same size); the rest
	// are dropped silently. Default 20.
	ResetRate int
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.AcceptBacklog <= 0 {
		c.AcceptBacklog = DefaultAcceptBacklog
	}
	if c.OtherQueue <= 0 {
		c.OtherQueue = DefaultOtherQueue
	}
	if c.RecvBuffer <= 0 {
		c.RecvBuffer = DefaultRecvBuffer
	}
	if c.SendBuffer <= 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	if c.PayloadSize <= 0 {
		c.PayloadSize = DefaultPayloadSize
	}
	c.PayloadSize = min(max(c.PayloadSize, 150), 65000)
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.SocketBuffer == 0 {
		c.SocketBuffer = DefaultSocketBuffer
	}
	if c.TargetDelay <= 0 {
		c.TargetDelay = DefaultTargetDelay
	}
	if c.ResetRate <= 0 {
		c.ResetRate = DefaultResetRate
	}
	return c
}
