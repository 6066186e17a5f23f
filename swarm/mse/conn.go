package mse

import (
	"crypto/rc4"
	"fmt"
	"net"
	"sync"
)

// Bounds of the buffer an RC4 writer encrypts into: the first Write sizes
// it to its length (at least minWriteBuf), later larger Writes grow it up
// to maxWriteBuf; Writes beyond that go out in maxWriteBuf chunks. A peer
// wire's piece message is 16 KiB and 13 bytes, so steady state allocates
// nothing.
const (
	minWriteBuf = 4 << 10
	maxWriteBuf = 64 << 10
)

// streamConn is the payload stream after a handshake. Every method but
// Read and Write is the underlying conn's (embedded).
//
// A Read and a Write may run at once (the engine's reader and writer
// goroutines): each direction has its own cipher and its own lock. rmu
// separates concurrent readers, wmu concurrent writers; neither is ever
// held with the other.
type streamConn struct {
	net.Conn

	rmu     sync.Mutex
	pending []byte      // plaintext received during the handshake, returned first
	dec     *rc4.Cipher // nil: the payload arrives in plaintext

	wmu  sync.Mutex
	enc  *rc4.Cipher // nil: the payload leaves in plaintext
	wbuf []byte      // ciphertext being written; reused
	werr error       // set once a failed Write has desynchronised enc

	iaLen int // length of the initial payload the peer sent (diagnostics)
}

var _ net.Conn = (*streamConn)(nil)

// Read returns what the handshake buffered first, then reads the
// underlying conn and decrypts in place.
func (c *streamConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil // let the handshake's buffer go
		}
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if c.dec != nil && n > 0 {
		c.dec.XORKeyStream(p[:n], p[:n])
	}
	return n, err
}

// Write encrypts p into a reused buffer (p itself is the caller's and is
// not modified) and writes it. A failed Write leaves the RC4 stream out of
// step with the peer (part of the keystream is used for bytes the peer
// never got), so every later Write fails too; the connection must be
// dropped.
func (c *streamConn) Write(p []byte) (int, error) {
	if c.enc == nil {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	if want := min(max(len(p), minWriteBuf), maxWriteBuf); len(c.wbuf) < want {
		c.wbuf = make([]byte, want)
	}
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), len(c.wbuf))]
		out := c.wbuf[:len(chunk)]
		c.enc.XORKeyStream(out, chunk)
		n, err := c.Conn.Write(out)
		written += n
		if err != nil {
			c.werr = fmt.Errorf("mse: rc4 stream broken by an earlier write: %w", err)
			return written, err
		}
		p = p[len(chunk):]
	}
	return written, nil
}

// NetConn returns the connection the payload stream runs over (as
// crypto/tls.Conn does), for what net.Conn does not offer, such as TCP
// options. Reading or writing it directly desynchronises the stream.
// Callers reach it with an interface assertion:
//
//	if nc, ok := c.(interface{ NetConn() net.Conn }); ok { ... }
func (c *streamConn) NetConn() net.Conn { return c.Conn }
