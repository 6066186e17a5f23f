// Package swarm is btfs's BitTorrent engine: a Client owns the listen port
// and peer id; each Torrent runs one event loop that owns its peers, piece
// states and scheduling; a Reader turns ReadAt calls into prioritized piece
// requests and waits for verified data.
package swarm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/btfs/btfs/swarm/dht"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/mse"
	"github.com/btfs/btfs/swarm/tracker"
	"github.com/btfs/btfs/swarm/utp"
	"github.com/btfs/btfs/swarm/wire"
)

// ErrClosed is returned by operations on a closed Client, Torrent or
// Reader. It wraps io/fs.ErrClosed, which the fs package maps to EIO.
var ErrClosed = fmt.Errorf("swarm: torrent closed: %w", iofs.ErrClosed)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// ListenAddr is the TCP address for incoming peers; default ":6881",
	// trying the next ports when it is taken. Port 0 picks any free port.
	ListenAddr string
	// PeerID is our 20-byte peer id; zero means a random "-BF0001-" id.
	PeerID [20]byte
	// MaxPeers bounds connections per torrent; default 50.
	MaxPeers int
	// RequestTimeout is how long a block request may stay unanswered before
	// it is given to another peer; default 8 s.
	RequestTimeout time.Duration
	// MaxAnnounceInterval caps the tracker's re-announce interval (tests
	// shorten it); default: the tracker decides.
	MaxAnnounceInterval time.Duration
	// Tracker speaks the announce protocol; nil means a default client.
	Tracker *tracker.Client
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// UploadRate and DownloadRate cap payload bytes per second across all
	// torrents and peers; 0 means unlimited.
	UploadRate, DownloadRate int64

	// DHT runs one BEP 5 node for every torrent, on UDP at the same port
	// number as the TCP listener; off by default.
	DHT bool
	// DHTBootstrap are HOST:PORT nodes to join the DHT through.
	DHTBootstrap []string
	// DHTStateFile keeps the DHT's node table between runs; "" = not kept.
	DHTStateFile string

	// Encryption is the MSE/PE policy for peer connections; the zero value
	// is EncPrefer.
	Encryption Encryption
	// NoUTP turns uTP (BEP 29) off. With it on (the default) peers are
	// also reached, and accepted, over uTP on the UDP port the DHT shares.
	NoUTP bool

	// MaxConnections bounds peer connections across all torrents; default:
	// what the open-file limit leaves after a reserve for everything else.
	MaxConnections int

	// peerGrace is how long a new peer is safe from being replaced by a
	// newcomer when the torrent is full (tests shorten it).
	peerGrace time.Duration
	// uselessAfter is how long a connection may carry nothing useful
	// either way before it is closed (tests shorten it).
	uselessAfter time.Duration
}

// Client is one BitTorrent node: a listen socket, a peer id, and torrents.
type Client struct {
	cfg  Config
	ln   net.Listener
	port uint16
	log  *slog.Logger
	up   *rate.Limiter // nil: unlimited
	down *rate.Limiter
	dht  *dht.Node // nil without a DHT
	mux  *utp.Mux  // the UDP socket shared by uTP and the DHT; nil without either
	utp  *utp.Socket
	// guard admits connections: bans, the descriptor budget, handshakes
	// in progress.
	guard *guard

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and its handshake goroutines

	// mu guards torrents; it separates the accept goroutines (lookups) from
	// AddTorrent and Close callers.
	mu       sync.Mutex
	torrents map[[20]byte]*Torrent
	req2     map[[20]byte][20]byte // HASH('req2', info-hash) -> info-hash, for MSE
	closed   bool
}

// NewClient starts listening and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = ":6881"
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = 50
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 8 * time.Second
	}
	if cfg.peerGrace <= 0 {
		cfg.peerGrace = 30 * time.Second
	}
	if cfg.uselessAfter <= 0 {
		cfg.uselessAfter = uselessAfter
	}
	if cfg.Tracker == nil {
		// A 3 s first UDP timeout lets a UDP tracker's first announce be
		// retried within the announcer's 5 s first attempt.
		cfg.Tracker = &tracker.Client{UDPTimeout: 3 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.PeerID == ([20]byte{}) {
		copy(cfg.PeerID[:], "-BF0001-")
		if _, err := rand.Read(cfg.PeerID[8:]); err != nil {
			return nil, fmt.Errorf("peer id: %w", err)
		}
	}
	ln, pc, err := listen(cfg.ListenAddr, cfg.DHT || !cfg.NoUTP)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg: cfg, ln: ln, log: cfg.Logger, ctx: ctx, cancel: cancel,
		port:     uint16(ln.Addr().(*net.TCPAddr).Port),
		torrents: map[[20]byte]*Torrent{},
		req2:     map[[20]byte][20]byte{},
		guard:    newGuard(cfg.MaxConnections),
	}
	c.up, c.down = newLimiter(cfg.UploadRate), newLimiter(cfg.DownloadRate)
	if pc != nil {
		// One UDP socket: uTP packets to the uTP side, the rest (KRPC)
		// to the DHT.
		c.mux = utp.NewMux(pc, utp.Config{Logger: c.log.With("utp", pc.LocalAddr().String())})
		if !cfg.NoUTP {
			c.utp = c.mux.Socket()
		}
		if cfg.DHT {
			if err := c.startDHT(c.mux.Other()); err != nil {
				ln.Close()
				c.mux.Close()
				cancel()
				return nil, err
			}
		}
	}
	c.wg.Go(func() { c.acceptLoop(c.ln) })
	if c.utp != nil {
		c.wg.Go(func() { c.acceptLoop(c.utp) })
	}
	return c, nil
}

// newLimiter returns a token bucket for bytesPerSec, or nil for unlimited.
// The burst is small (a few blocks) so the rate holds over short spans.
func newLimiter(bytesPerSec int64) *rate.Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	burst := max(int(bytesPerSec/20), 2*wire.MaxBlockLen)
	return rate.NewLimiter(rate.Limit(bytesPerSec), burst)
}

// listen binds addr over TCP (and, with udp, UDP at the same port number),
// moving up to the next 20 ports when addr's is taken.
func listen(addr string, udp bool) (net.Listener, net.PacketConn, error) {
	ap, err := netip.ParseAddrPort(addr)
	host := ""
	var port uint16
	if err == nil {
		host, port = ap.Addr().String(), ap.Port()
	} else {
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen address %q: %w", addr, err)
		}
		var n int
		if _, err := fmt.Sscan(p, &n); err != nil || n < 0 || n > 65535 {
			return nil, nil, fmt.Errorf("listen address %q: bad port", addr)
		}
		host, port = h, uint16(n)
	}
	var firstErr error
	tries := 20
	if port == 0 {
		tries = 50 // a free TCP port's UDP twin may be taken
	}
	for i := 0; i < tries; i++ {
		p := int(port)
		if port != 0 {
			p += i
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(p)))
		if err == nil && udp {
			var pc net.PacketConn
			tp := ln.Addr().(*net.TCPAddr).Port
			if pc, err = net.ListenPacket("udp", net.JoinHostPort(host, fmt.Sprint(tp))); err == nil {
				return ln, pc, nil
			}
			ln.Close()
		}
		if err == nil {
			return ln, nil, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if p >= 65535 {
			break
		}
	}
	return nil, nil, fmt.Errorf("listen on %s: %w", addr, firstErr)
}

// Port returns the TCP port peers can reach us on.
func (c *Client) Port() uint16 { return c.port }

// Logger returns the client's logger.
func (c *Client) Logger() *slog.Logger { return c.log }

// PeerID returns our peer id.
func (c *Client) PeerID() [20]byte { return c.cfg.PeerID }

// Close stops every torrent and the listener, and waits for them.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	c.cancel()
	err := c.ln.Close()
	if c.utp != nil {
		c.utp.Close()
	}
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Go(func() { t.Close() })
	}
	wg.Wait()
	c.wg.Wait()
	c.stopDHT()
	if c.mux != nil {
		c.mux.Close()
	}
	return err
}

// TorrentOptions configures one torrent.
type TorrentOptions struct {
	// Seed marks a torrent whose storage is all it will ever have: it
	// serves peers and never downloads.
	Seed bool
	// Peers are addresses to connect to besides those trackers return.
	Peers []netip.AddrPort
	// NoTrackers disables announcing (peers come only from Peers and
	// incoming connections).
	NoTrackers bool
	// NoDHT keeps this torrent out of the DHT even when the client runs
	// one (private torrents never use it).
	NoDHT bool
	// Prefetch says what is fetched besides the pieces under reads.
	Prefetch Prefetch
	// Readahead caps how many bytes past a reader's position are fetched
	// ahead of it (the window grows to it on sequential reads); default
	// 32 MiB.
	Readahead int64
	// Backlog bounds the bytes of complete pieces waiting for the hasher
	// or storage; past it no new blocks are requested. Default 64 MiB; a
	// mount with a small memory cache passes less.
	Backlog int64
}

// Prefetch is what a torrent fetches besides the pieces under reads.
type Prefetch int

const (
	// PrefetchWindow fetches each reader's readahead window and a media
	// file's head and tail (the default).
	PrefetchWindow Prefetch = iota
	// PrefetchNone fetches only what is read.
	PrefetchNone
	// PrefetchAll also fills the whole torrent, rarest first, when idle.
	PrefetchAll
)

// ParsePrefetch parses "none", "window" or "all".
func ParsePrefetch(s string) (Prefetch, error) {
	switch s {
	case "window", "":
		return PrefetchWindow, nil
	case "none":
		return PrefetchNone, nil
	case "all":
		return PrefetchAll, nil
	}
	return 0, fmt.Errorf("prefetch %q: want none, window or all", s)
}

// AddTorrent starts a torrent on storage st and returns it.
func (c *Client) AddTorrent(mi *metainfo.MetaInfo, st Storage, opts TorrentOptions) (*Torrent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if _, ok := c.torrents[mi.InfoHash]; ok {
		return nil, fmt.Errorf("torrent %x already added", mi.InfoHash)
	}
	t := newTorrent(c, mi, st, opts)
	c.torrents[mi.InfoHash] = t
	c.req2[mse.Req2(mi.InfoHash)] = mi.InfoHash
	go func() {
		<-t.done
		c.mu.Lock()
		if c.torrents[mi.InfoHash] == t {
			delete(c.torrents, mi.InfoHash)
			delete(c.req2, mse.Req2(mi.InfoHash))
		}
		c.mu.Unlock()
	}()
	return t, nil
}

// acceptLoop takes incoming connections until the client closes. Running
// out of file descriptors (a flood of connections) is not the end: it backs
// off, 5 ms doubling to 1 s, and accepts again once descriptors are free.
func (c *Client) acceptLoop(ln net.Listener) {
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		switch {
		case err == nil:
			delay = 0
			// A banned address is turned away before it costs a
			// handshake; so is anyone while the handshake slots or the
			// descriptor budget are full.
			if c.guard.bannedConn(conn) || !c.guard.admitHalfOpen() {
				conn.Close()
				continue
			}
			c.wg.Go(func() {
				defer c.guard.doneHalfOpen()
				c.handleIncoming(conn)
			})
			continue
		case c.ctx.Err() != nil || errors.Is(err, net.ErrClosed):
			return
		case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
			errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED):
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			if delay == time.Second || delay == 5*time.Millisecond {
				c.log.Warn("accept failing; backing off", "listener", ln.Addr(), "delay", delay, "err", err)
			}
			select {
			case <-time.After(delay):
			case <-c.ctx.Done():
				return
			}
		default:
			c.log.Warn("accept stopped", "listener", ln.Addr(), "err", err)
			return
		}
	}
}

// handleIncoming reads a peer's handshake (plaintext, or inside MSE as the
// policy allows), finds its torrent and answers.
func (c *Client) handleIncoming(raw net.Conn) {
	conn, skey, err := c.acceptIncoming(raw)
	if err != nil {
		c.log.Debug("incoming encryption handshake", "peer", raw.RemoteAddr(), "err", err)
		raw.Close()
		return
	}
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	hs, err := wire.ReadHandshake(conn)
	if err == nil && skey != nil && hs.InfoHash != *skey {
		err = errors.New("handshake info-hash differs from the encryption handshake's")
	}
	if err != nil {
		c.log.Debug("incoming handshake", "peer", conn.RemoteAddr(), "err", err)
		conn.Close()
		return
	}
	c.mu.Lock()
	t := c.torrents[hs.InfoHash]
	c.mu.Unlock()
	if t == nil {
		c.log.Debug("incoming peer for unknown torrent", "peer", conn.RemoteAddr(), "info_hash", fmt.Sprintf("%x", hs.InfoHash))
		conn.Close()
		return
	}
	if err := writeHandshake(conn, t.ourHandshake()); err != nil {
		conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	_, tcp := raw.(*net.TCPConn)
	t.addConn(conn, hs, way{utp: !tcp, encrypted: skey != nil})
}

func writeHandshake(conn net.Conn, hs wire.Handshake) error {
	b, err := hs.AppendBinary(make([]byte, 0, wire.HandshakeLen))
	if err != nil {
		return err
	}
	_, err = conn.Write(b)
	return err
}
