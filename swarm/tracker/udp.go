package tracker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// UDP tracker protocol (BEP 15).

const (
	udpProtocolID = 0x41727101980 // connection id of a connect request

	actionConnect  = 0
	actionAnnounce = 1
	actionError    = 3

	defaultUDPTimeout = 15 * time.Second
	defaultUDPRetries = 8
	defaultUDPConnTTL = time.Minute

	// maxDatagram is the receive buffer: as large as any UDP payload, so
	// the kernel never truncates one silently.
	maxDatagram = 64 << 10
	// maxReasonLen bounds the error message quoted from an error datagram.
	maxReasonLen = 512

	connectReqLen  = 16
	announceReqLen = 98
	connectRespLen = 16
	announceHdrLen = 20
	errorHdrLen    = 8
)

// udpConnID is a connection id and when it stops being usable.
type udpConnID struct {
	id      uint64
	expires time.Time
}

// udpExchange is one Announce call over UDP: a connected socket and the
// retransmission count it shares between its connect and announce.
type udpExchange struct {
	c       *Client
	conn    net.Conn
	key     string // connection id cache key, the URL's host:port
	addrLen int    // 4, or 16 when the tracker was reached over IPv6
	buf     []byte
	n       int // timeouts so far; the next wait is base·2^n
}

func (c *Client) announceUDP(ctx context.Context, u *url.URL, req Request) (*Response, error) {
	if u.Port() == "" {
		return nil, errors.New("udp tracker url has no port")
	}
	key := strings.ToLower(u.Host)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("udp dial: %w", err)
	}
	defer conn.Close()
	// Cancelling ctx unblocks a pending read at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	x := &udpExchange{c: c, conn: conn, key: key, addrLen: 4, buf: make([]byte, maxDatagram)}
	if ra, ok := conn.RemoteAddr().(*net.UDPAddr); ok && ra.IP.To4() == nil {
		x.addrLen = 16
	}
	resp, err := x.announce(ctx, req)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("udp: %w", ctx.Err())
	}
	return resp, err
}

// announce runs connect (unless a cached connection id is fresh) and
// announce, retransmitting on timeouts.
func (x *udpExchange) announce(ctx context.Context, req Request) (*Response, error) {
	var (
		connID    uint64
		expires   time.Time // zero while no id is held
		fromCache bool
	)
	for {
		if !time.Now().Before(expires) {
			connID, expires, fromCache = x.c.udpConnID(x.key)
		}
		if !time.Now().Before(expires) {
			tid := randUint32()
			r, err := x.roundTrip(ctx, appendConnect(nil, tid), actionConnect, tid)
			if err != nil {
				return nil, fmt.Errorf("udp connect: %w", err)
			}
			if r.timeout {
				continue
			}
			connID, fromCache = r.connID, false
			expires = x.c.setUDPConnID(x.key, connID)
		}
		tid := randUint32()
		r, err := x.roundTrip(ctx, appendAnnounce(nil, connID, tid, req), actionAnnounce, tid)
		if err != nil {
			var fe *FailureError
			if errors.As(err, &fe) {
				// Perhaps an expired or unknown connection id.
				x.c.dropUDPConnID(x.key, connID)
			}
			return nil, fmt.Errorf("udp announce: %w", err)
		}
		if r.timeout {
			if fromCache {
				// A restarted tracker silently drops ids it does not
				// know: reconnect rather than retransmit.
				x.c.dropUDPConnID(x.key, connID)
				expires = time.Time{}
			}
			continue
		}
		return r.resp, nil
	}
}

// roundTrip sends pkt and waits for the matching reply until the current
// timeout. A timeout with retries left is reported as r.timeout; the last
// one is an error.
func (x *udpExchange) roundTrip(ctx context.Context, pkt []byte, action, tid uint32) (udpReply, error) {
	tries := x.c.udpRetries() + 1
	if x.n >= tries {
		return udpReply{}, fmt.Errorf("no answer after %d tries", tries)
	}
	if _, err := x.conn.Write(pkt); err != nil {
		return udpReply{}, fmt.Errorf("send: %w", err)
	}
	deadline := time.Now().Add(x.c.udpWait(x.n))
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	if err := x.conn.SetReadDeadline(deadline); err != nil {
		return udpReply{}, fmt.Errorf("set deadline: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return udpReply{}, err // the cancel's deadline may have been overwritten
	}
	for {
		m, err := x.conn.Read(x.buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				if ctxDeadline {
					// ctx's own timer may not have fired yet.
					return udpReply{}, context.DeadlineExceeded
				}
				x.n++
				if x.n >= tries {
					return udpReply{}, fmt.Errorf("no answer after %d tries: %w", tries, err)
				}
				return udpReply{timeout: true}, nil
			}
			// ICMP port unreachable surfaces as a read error on a
			// connected socket; it is a definite answer.
			return udpReply{}, fmt.Errorf("receive: %w", err)
		}
		r, err := parseUDPReply(x.buf[:m], action, tid, x.addrLen)
		if err != nil {
			return udpReply{}, err
		}
		if !r.ignore {
			return r, nil
		}
	}
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return binary.BigEndian.Uint32(b[:])
}

func (c *Client) udpTimeout() time.Duration {
	if c.UDPTimeout > 0 {
		return c.UDPTimeout
	}
	return defaultUDPTimeout
}

// udpWait is the timeout after n timeouts, UDPTimeout·2^n, at most a day.
func (c *Client) udpWait(n int) time.Duration {
	d := c.udpTimeout()
	for ; n > 0 && d < 24*time.Hour; n-- {
		d *= 2
	}
	return min(d, 24*time.Hour)
}

func (c *Client) udpRetries() int {
	if c.UDPRetries > 0 {
		return min(c.UDPRetries, 30)
	}
	return defaultUDPRetries
}

// udpConnID returns the cached connection id for key and when it
// expires; a zero time when there is none still fresh.
func (c *Client) udpConnID(key string) (uint64, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.conns[key]
	if !ok || !time.Now().Before(e.expires) {
		return 0, time.Time{}, false
	}
	return e.id, e.expires, true
}

// setUDPConnID caches id for key and returns when it expires.
func (c *Client) setUDPConnID(key string, id uint64) time.Time {
	ttl := c.UDPConnTTL
	if ttl <= 0 {
		ttl = defaultUDPConnTTL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conns == nil {
		c.conns = make(map[string]udpConnID)
	}
	// Expired entries go too, so the map holds only the trackers
	// announced to within the last TTL.
	now := time.Now()
	for k, e := range c.conns {
		if !now.Before(e.expires) {
			delete(c.conns, k)
		}
	}
	e := udpConnID{id: id, expires: now.Add(ttl)}
	c.conns[key] = e
	return e.expires
}

// dropUDPConnID forgets key's connection id if it is still id.
func (c *Client) dropUDPConnID(key string, id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.conns[key]; ok && e.id == id {
		delete(c.conns, key)
	}
}
