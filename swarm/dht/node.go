package dht

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Node bounds and timings.
const (
	maxPending       = 512 // transactions awaiting an answer
	queryTimeout     = 2 * time.Second
	tickEvery        = 250 * time.Millisecond // transaction timeouts are checked this often
	defaultQueryRate = 250
	maxStartPings    = 1000 // addresses of Config.Nodes queued for a ping
	packetQueue      = 64   // datagrams waiting for the loop; more are dropped
)

// errClosed is returned by the methods of a closed Node.
var errClosed = fmt.Errorf("dht: node %w", net.ErrClosed)

// Config configures a Node.
type Config struct {
	// Conn is the node's UDP socket; the Node reads and writes it and
	// closes it on Close. It may be IPv4, IPv6, or dual-stack (bound to
	// the IPv6 unspecified address without IPV6_V6ONLY, as
	// net.ListenPacket("udp", ":port") is): the node then takes part in
	// the IPv4 DHT, the IPv6 DHT (BEP 32), or both.
	Conn net.PacketConn
	// ID is our node id; zero = random.
	ID [20]byte
	// Bootstrap are HOST:PORT routers/nodes contacted when a table is
	// empty or sparse. Names are resolved with net.DefaultResolver, to
	// the address families Conn can use.
	Bootstrap []string
	// Nodes are addresses from a saved table (LoadNodes); pinged at start.
	Nodes []netip.AddrPort
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
	// QueryRate bounds the queries we answer per second, from all sources
	// together (default 250) and from one IP (a tenth of it, default 25).
	// Excess queries are silently dropped.
	QueryRate int
}

// Stats are counters of a Node. Nodes counts the nodes of both routing
// tables, Nodes6 those of the IPv6 one.
type Stats struct {
	Nodes, Torrents, StoredPeers           int
	QueriesIn, QueriesDropped, ResponsesIn uint64
	Nodes6                                 int
}

// Node is a DHT node. Its state (routing tables, peer store, tokens,
// transactions) is owned by one loop goroutine; a reader goroutine feeds
// it datagrams, and public methods and lookups send it commands.
type Node struct {
	conn    net.PacketConn
	udp     *net.UDPConn // conn when it is one: allocation-free I/O
	id      [20]byte
	addr    netip.AddrPort // conn's local address
	fams    famSet         // the address families conn can use
	log     *slog.Logger
	routers []string

	ctx       context.Context // cancelled by Close; background lookups run under it
	cancel    context.CancelFunc
	quit      chan struct{} // closed by Close
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	packetC chan packet
	freeC   chan []byte // spare read buffers
	cmdC    chan command
	addC    chan netip.AddrPort

	// Counters: written by the reader and the loop, read by Stats.
	queriesIn, queriesDropped, responsesIn atomic.Uint64
	nodes, nodes6, torrents, peers         atomic.Int64

	// Owned by the reader goroutine.
	limit limiter

	// Owned by the loop goroutine. (A test driving handlePacket without
	// starting the goroutines plays both.)
	tables        [numFams]*table // by family; the table of a family conn cannot use stays empty
	store         *store
	tokens        tokens
	pending       map[uint32]pending
	pinging       map[netip.AddrPort]struct{} // our own pings awaiting an answer
	startPings    []netip.AddrPort
	bg            bool // a bootstrap or refresh lookup is running
	nextBootstrap [numFams]time.Time
	backoff       [numFams]time.Duration
	lastExpire    time.Time
	out           []byte // encoding buffer
	near          [numFams][bucketSize]nodeInfo
	vals          []netip.AddrPort
	tok           [tokenLen]byte
}

// packet is an admitted datagram, decoded by the reader; m aliases b.
type packet struct {
	b    []byte
	from netip.AddrPort
	m    msg
	err  error
}

type command struct {
	f    func()
	done chan struct{}
}

// New starts a node on cfg.Conn: its reader and maintenance goroutines
// run until Close.
func New(cfg Config) (*Node, error) {
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	n.wg.Add(2)
	go n.read()
	go n.loop()
	return n, nil
}

// newNode builds a node without starting its goroutines.
func newNode(cfg Config) (*Node, error) {
	if cfg.Conn == nil {
		return nil, errors.New("dht: Config.Conn is nil")
	}
	if cfg.ID == ([20]byte{}) {
		rand.Read(cfg.ID[:])
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueryRate <= 0 {
		cfg.QueryRate = defaultQueryRate
	}
	now := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		conn: cfg.Conn, id: cfg.ID, log: cfg.Logger, routers: slices.Clone(cfg.Bootstrap),
		ctx: ctx, cancel: cancel, quit: make(chan struct{}),
		packetC: make(chan packet, packetQueue), freeC: make(chan []byte, packetQueue+2),
		cmdC: make(chan command), addC: make(chan netip.AddrPort, 64),
		store: newStore(), tokens: newTokens(now),
		limit: newLimiter(cfg.QueryRate), pending: make(map[uint32]pending),
		pinging: make(map[netip.AddrPort]struct{}), lastExpire: now,
	}
	for f := range numFams {
		n.tables[f] = newTable(cfg.ID, now)
		n.nextBootstrap[f], n.backoff[f] = now, time.Second
	}
	n.udp, _ = cfg.Conn.(*net.UDPConn)
	if la, ok := cfg.Conn.LocalAddr().(*net.UDPAddr); ok {
		n.addr = unmap(la.AddrPort())
	}
	n.fams = socketFamilies(n.addr, cfg.Conn)
	for _, a := range cfg.Nodes {
		if a = unmap(a); len(n.startPings) < maxStartPings && n.reachable(a, a.Addr()) {
			n.startPings = append(n.startPings, a)
		}
	}
	return n, nil
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// reachable reports whether addr (unmapped) is usable and of a family
// conn can use.
func (n *Node) reachable(addr netip.AddrPort, from netip.Addr) bool {
	return n.fams.hasAddr(addr.Addr()) && usable(addr, from)
}

// tableOf returns the routing table of addr's family.
func (n *Node) tableOf(addr netip.AddrPort) *table {
	return n.tables[familyOf(addr.Addr())]
}

// Close stops every goroutine of the node, waits for them and closes
// its Conn.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.quit)
		n.cancel()
		n.closeErr = n.conn.Close()
		n.wg.Wait()
	})
	return n.closeErr
}

// ID returns our node id.
func (n *Node) ID() [20]byte { return n.id }

// Addr returns the local address of the node's Conn.
func (n *Node) Addr() netip.AddrPort { return n.addr }

// isSelf reports whether addr is our own socket.
func (n *Node) isSelf(addr netip.AddrPort) bool {
	if addr == n.addr {
		return true
	}
	return n.addr.Addr().IsUnspecified() && addr.Port() == n.addr.Port() && addr.Addr().IsLoopback()
}

// AddNode pings addr and inserts it in the table of its family if it
// answers (BEP 5 PORT messages). Addresses of a family Conn cannot use
// are ignored. It never blocks: when the loop is busy the address is
// dropped.
func (n *Node) AddNode(addr netip.AddrPort) {
	if addr = unmap(addr); !n.reachable(addr, addr.Addr()) {
		return
	}
	select {
	case n.addC <- addr:
	case <-n.quit:
	default:
	}
}

// Nodes returns the good nodes of the routing tables, IPv4 then IPv6
// (for SaveNodes).
func (n *Node) Nodes() []netip.AddrPort {
	var out []netip.AddrPort
	err := n.do(context.Background(), func() {
		now := time.Now()
		for _, t := range n.tables {
			out = append(out, t.good(now)...)
		}
	})
	if err != nil {
		return nil
	}
	return out
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{
		Nodes: int(n.nodes.Load()), Torrents: int(n.torrents.Load()), StoredPeers: int(n.peers.Load()),
		QueriesIn: n.queriesIn.Load(), QueriesDropped: n.queriesDropped.Load(), ResponsesIn: n.responsesIn.Load(),
		Nodes6: int(n.nodes6.Load()),
	}
}

// do runs f on the loop goroutine and waits for it.
func (n *Node) do(ctx context.Context, f func()) error {
	c := command{f: f, done: make(chan struct{})}
	select {
	case n.cmdC <- c:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.quit:
		return errClosed
	}
	select {
	case <-c.done:
		return nil
	case <-n.quit:
		return errClosed
	}
}
