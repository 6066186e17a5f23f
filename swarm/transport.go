package swarm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/btfs/btfs/swarm/mse"
	"github.com/btfs/btfs/swarm/wire"
)

// Encryption is the MSE/PE (Message Stream Encryption) policy.
type Encryption int

const (
	// EncPrefer offers encryption on outgoing connections and falls back
	// to plaintext at once when the peer does not speak it; incoming
	// connections may be either.
	EncPrefer Encryption = iota
	// EncRequire speaks only RC4-encrypted MSE, both ways.
	EncRequire
	// EncOff speaks only plaintext, both ways.
	EncOff
)

func (e Encryption) String() string {
	switch e {
	case EncRequire:
		return "require"
	case EncOff:
		return "off"
	}
	return "prefer"
}

// ParseEncryption parses "prefer", "require" or "off".
func ParseEncryption(s string) (Encryption, error) {
	switch s {
	case "prefer", "":
		return EncPrefer, nil
	case "require":
		return EncRequire, nil
	case "off":
		return EncOff, nil
	}
	return 0, fmt.Errorf("encryption %q: want prefer, require or off", s)
}

// mseTimeout bounds an MSE handshake (both sides); each phase is bounded
// by it too, since it covers the whole exchange.
const mseTimeout = 10 * time.Second

// way is one way of reaching a peer: a transport and an encryption.
type way struct {
	utp       bool
	encrypted bool
}

func (w way) String() string {
	s := "tcp"
	if w.utp {
		s = "utp"
	}
	if w.encrypted {
		return s + "+mse"
	}
	return s
}

// Attempt is one try at reaching a peer, for status.
type Attempt struct {
	Way string    // "tcp", "tcp+mse", "utp", "utp+mse"
	At  time.Time // when it started
	Err string    // "" when it connected
}

// maxAttempts is how many recent attempts a known peer keeps for status.
const maxAttempts = 8

// ways lists, in order, how to try a peer: TCP before uTP (cheaper on the
// CPU and the kernel's own congestion control), and under EncPrefer MSE
// before plaintext on each.
func (c *Client) ways() []way {
	var ws []way
	for _, utp := range []bool{false, true} {
		if utp && c.utp == nil {
			continue
		}
		switch c.cfg.Encryption {
		case EncPrefer:
			ws = append(ws, way{utp, true}, way{utp, false})
		case EncRequire:
			ws = append(ws, way{utp, true})
		case EncOff:
			ws = append(ws, way{utp, false})
		}
	}
	return ws
}

// errUnreachable marks a transport that did not connect at all: the other
// encryption on it is not worth a try.
var errUnreachable = errors.New("unreachable")

// errBanned refuses a dial to an address banned for sending bad data.
var errBanned = errors.New("address banned: it sent data that failed the hash check")

// dialPeer tries every way of reaching a, in order, for the torrent ih,
// sending ours as our BitTorrent handshake, and returns the first
// connection that completed it (their handshake checked for ih), with the
// way it took and the attempts made (the successful one last).
func (c *Client) dialPeer(ctx context.Context, a netip.AddrPort, ih [20]byte, ours wire.Handshake) (net.Conn, wire.Handshake, way, []Attempt, error) {
	if c.guard.isBanned(a.Addr()) {
		return nil, wire.Handshake{}, way{}, nil, errBanned
	}
	var attempts []Attempt
	var lastErr error
	skipUTP, skipTCP := false, false
	for _, w := range c.ways() {
		if w.utp && skipUTP || !w.utp && skipTCP {
			continue
		}
		at := time.Now()
		conn, hs, err := c.dialWay(ctx, a, ih, ours, w)
		if errors.Is(err, mse.ErrLeadingZeroSecret) {
			// libtorrent before 2.0.13 mishandles a shared secret with a
			// leading zero byte (1 in 256 handshakes); a new key is
			// almost surely fine.
			conn, hs, err = c.dialWay(ctx, a, ih, ours, w)
		}
		att := Attempt{Way: w.String(), At: at}
		if err == nil {
			attempts = append(attempts, att)
			return conn, hs, w, attempts, nil
		}
		att.Err = err.Error()
		attempts = append(attempts, att)
		lastErr = err
		if errors.Is(err, errUnreachable) {
			if w.utp {
				skipUTP = true
			} else {
				skipTCP = true
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, wire.Handshake{}, way{}, attempts, lastErr
}

// dialWay connects to a one way and runs the handshakes.
func (c *Client) dialWay(ctx context.Context, a netip.AddrPort, ih [20]byte, ours wire.Handshake, w way) (net.Conn, wire.Handshake, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if w.utp {
		conn, err = c.utp.Dial(dctx, a)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", a.String())
	}
	if err != nil {
		return nil, wire.Handshake{}, fmt.Errorf("%w: %w", errUnreachable, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // unblock on shutdown
	defer stop()
	hs, hc, err := c.handshakeOut(ctx, conn, ih, ours, w.encrypted)
	if err != nil {
		conn.Close()
		return nil, wire.Handshake{}, err
	}
	return hc, hs, nil
}

// handshakeOut runs, on a fresh outgoing connection, MSE (if encrypted,
// with our BitTorrent handshake as its initial payload) and the BitTorrent
// handshake, and returns the connection to use from then on.
func (c *Client) handshakeOut(ctx context.Context, conn net.Conn, ih [20]byte, ours wire.Handshake, encrypted bool) (wire.Handshake, net.Conn, error) {
	b, err := ours.AppendBinary(make([]byte, 0, wire.HandshakeLen))
	if err != nil {
		return wire.Handshake{}, nil, err
	}
	if encrypted {
		provide := mse.CryptoRC4 | mse.CryptoPlain
		if c.cfg.Encryption == EncRequire {
			provide = mse.CryptoRC4
		}
		mctx, cancel := context.WithTimeout(ctx, mseTimeout)
		ec, _, err := mse.Initiate(mctx, conn, ih, provide, b)
		cancel()
		if err != nil {
			return wire.Handshake{}, nil, fmt.Errorf("encryption handshake: %w", err)
		}
		conn = ec
	} else {
		_ = conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
		if _, err := conn.Write(b); err != nil {
			return wire.Handshake{}, nil, err
		}
	}
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	hs, err := wire.ReadHandshake(conn)
	if err != nil {
		return wire.Handshake{}, nil, err
	}
	if hs.InfoHash != ih {
		return wire.Handshake{}, nil, errWrongHash
	}
	_ = conn.SetDeadline(time.Time{})
	return hs, conn, nil
}

// acceptIncoming tells plaintext from MSE on an incoming connection (TCP or
// uTP) and runs the MSE responder side as the policy allows. It returns
// the connection to read the BitTorrent handshake from, and for MSE the
// info-hash the peer asked for.
func (c *Client) acceptIncoming(conn net.Conn) (net.Conn, *[20]byte, error) {
	ctx, cancel := context.WithTimeout(c.ctx, mseTimeout)
	defer cancel()
	res, err := mse.Accept(ctx, conn, c.cfg.Encryption != EncRequire, c.skeyFor, c.chooseCrypto)
	if err != nil {
		return nil, nil, err
	}
	if !res.Encrypted {
		return res.Conn, nil, nil
	}
	return res.Conn, &res.SKey, nil
}

// skeyFor finds the torrent whose HASH('req2', info-hash) an MSE initiator
// sent; with encryption off, none.
func (c *Client) skeyFor(req2 [20]byte) ([20]byte, bool) {
	if c.cfg.Encryption == EncOff {
		return [20]byte{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ih, ok := c.req2[req2]
	return ih, ok
}

// chooseCrypto picks the stream method from what an initiator provides:
// RC4 when offered (the initiator asked for MSE: it wants encryption),
// plaintext only when that is all it offers and the policy allows it.
func (c *Client) chooseCrypto(provided uint32) uint32 {
	switch {
	case provided&mse.CryptoRC4 != 0:
		return mse.CryptoRC4
	case provided&mse.CryptoPlain != 0 && c.cfg.Encryption != EncRequire:
		return mse.CryptoPlain
	}
	return 0
}
