package swarm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/btfs/btfs/swarm/announce"
	"github.com/btfs/btfs/swarm/metadata"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/peerconn"
	"github.com/btfs/btfs/swarm/pex"
	"github.com/btfs/btfs/swarm/wire"
)

const (
	// metaConns bounds the connections (and dials) of a metadata fetch.
	metaConns = 30
	// metaRequestTimeout is how long a ut_metadata request may stay
	// unanswered before another peer is asked.
	metaRequestTimeout = 5 * time.Second
	// metaOutbox bounds the messages queued for one connection.
	metaOutbox = 64
)

// MetadataStatus is the progress of a metadata fetch.
type MetadataStatus struct {
	Known     int // peer addresses known
	Connected int // peers connected
	Serving   int // connected peers offering the metadata
	Size      int // the metadata's size once a peer has told it; 0 before
}

// MagnetOptions configures FetchMetadata.
type MagnetOptions struct {
	// Peers are addresses to connect to besides those the trackers and
	// the DHT return.
	Peers []netip.AddrPort
	// NoTrackers skips the magnet's trackers; NoDHT the DHT.
	NoTrackers, NoDHT bool
	// Progress, if set, is called from the fetch's goroutine whenever
	// the status changes (at most every 200 ms).
	Progress func(MetadataStatus)
}

// ErrNoMetadata is returned when ctx ends before any peer gave us the
// torrent's metadata.
var ErrNoMetadata = errors.New("no peer sent the torrent's metadata")

// FetchMetadata finds peers for a magnet link's torrent (its x.pe peers,
// trackers, the DHT, and peer exchange) and fetches the info dictionary
// from several of them at once (BEP 9), checking it against the
// info-hash. It returns the torrent and the addresses of the peers it
// met, to hand to AddTorrent. Peers that send metadata that does not hash
// are dropped and not returned.
func (c *Client) FetchMetadata(ctx context.Context, mg *metainfo.Magnet, opts MagnetOptions) (*metainfo.MetaInfo, []netip.AddrPort, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := &metaFetch{
		c: c, mg: mg, opts: opts, ctx: ctx,
		fetcher: metadata.NewFetcher[*metaConn](mg.InfoHash),
		known:   map[netip.AddrPort]*metaKnown{},
		conns:   map[*metaConn]struct{}{},
		evC:     make(chan metaEvent, 64),
		peersC:  make(chan metaPeers, 16),
	}
	for _, a := range append(append([]netip.AddrPort(nil), mg.Peers...), opts.Peers...) {
		f.addKnown(a, false)
	}
	f.startSources()
	info, err := f.run()
	cancel()
	f.shutdown()
	f.wg.Wait()
	if err != nil {
		return nil, nil, fmt.Errorf("metadata for %x: %w", mg.InfoHash, err)
	}
	mi, err := metainfo.FromInfo(mg.InfoHash, info, mg)
	if err != nil {
		return nil, nil, err
	}
	return mi, f.peers(mi.Info.Private), nil
}

// metaFetch is one metadata fetch. Its fields belong to run's goroutine,
// except the channels and wg.
type metaFetch struct {
	c       *Client
	mg      *metainfo.Magnet
	opts    MagnetOptions
	ctx     context.Context
	wg      sync.WaitGroup
	fetcher *metadata.Fetcher[*metaConn]
	known   map[netip.AddrPort]*metaKnown
	conns   map[*metaConn]struct{}
	dialing int
	evC     chan metaEvent
	peersC  chan metaPeers
	last    MetadataStatus
	size    int
}

// metaKnown is an address met during a fetch.
type metaKnown struct {
	open   bool // learned from the DHT or PEX (not for private torrents)
	tried  bool
	banned bool
	met    bool // a handshake succeeded
}

// metaPeers is a batch of addresses from a source.
type metaPeers struct {
	addrs []netip.AddrPort
	open  bool
}

// metaConn is one connection of a fetch.
type metaConn struct {
	pc     *peerconn.Conn
	addr   netip.AddrPort
	meta   uint8 // their ut_metadata id
	pex    uint8
	closed bool
}

// metaEvent is what a connection's goroutines tell the loop.
type metaEvent struct {
	mc   *metaConn
	addr netip.AddrPort // for dial results
	msg  wire.Message   // an extended message
	err  error
	dial bool // a dial finished (mc nil on failure)
}

// startSources starts the trackers and the DHT lookups.
func (f *metaFetch) startSources() {
	send := func(open bool) func([]netip.AddrPort) {
		return func(addrs []netip.AddrPort) {
			select {
			case f.peersC <- metaPeers{addrs: append([]netip.AddrPort(nil), addrs...), open: open}:
			case <-f.ctx.Done():
			}
		}
	}
	if !f.opts.NoTrackers && len(f.mg.Trackers) > 0 {
		tiers := make([][]string, len(f.mg.Trackers))
		for i, u := range f.mg.Trackers {
			tiers[i] = []string{u}
		}
		a := announce.New(announce.Config{
			Tiers: tiers, InfoHash: f.mg.InfoHash, PeerID: f.c.cfg.PeerID, Port: f.c.port,
			Client: f.c.cfg.Tracker, Peers: send(false), Logger: f.c.log,
			Stats:          func() announce.Stats { return announce.Stats{Left: 1} },
			StoppedTimeout: 500 * time.Millisecond,
		})
		f.wg.Go(func() { a.Run(f.ctx) })
	}
	if d := f.c.dht; d != nil && !f.opts.NoDHT {
		f.wg.Go(func() {
			for f.ctx.Err() == nil {
				if _, err := d.Announce(f.ctx, f.mg.InfoHash, 0, send(true)); err != nil && f.ctx.Err() == nil {
					f.c.log.Debug("dht lookup for metadata", "err", err)
				}
				select {
				case <-f.ctx.Done():
				case <-time.After(2 * time.Second):
				}
			}
		})
	}
}

// run is the fetch's loop; it returns the verified info dictionary.
func (f *metaFetch) run() ([]byte, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	f.dialMore()
	f.progress()
	for {
		select {
		case <-f.ctx.Done():
			return nil, ErrNoMetadata
		case ps := <-f.peersC:
			for _, a := range ps.addrs {
				f.addKnown(a, ps.open)
			}
			f.dialMore()
		case ev := <-f.evC:
			info, err := f.handle(ev)
			if err != nil || info != nil {
				return info, err
			}
		case now := <-tick.C:
			f.fetcher.Expire(now, metaRequestTimeout)
			f.requestAll(now)
			f.dialMore()
		}
		f.progress()
	}
}

func (f *metaFetch) progress() {
	if f.opts.Progress == nil {
		return
	}
	s := MetadataStatus{Known: len(f.known), Connected: len(f.conns), Serving: f.fetcher.Peers(), Size: f.size}
	if s != f.last {
		f.last = s
		f.opts.Progress(s)
	}
}

func (f *metaFetch) addKnown(a netip.AddrPort, open bool) {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	if !a.IsValid() || a.Port() == 0 || a.Addr().IsUnspecified() || a.Addr().IsMulticast() {
		return
	}
	if k := f.known[a]; k != nil {
		k.open = k.open && open
		return
	}
	if len(f.known) < maxKnownPeers {
		f.known[a] = &metaKnown{open: open}
	}
}

// dialMore dials untried addresses while there is room.
func (f *metaFetch) dialMore() {
	for a, k := range f.known {
		if len(f.conns)+f.dialing >= metaConns {
			return
		}
		if k.tried || k.banned {
			continue
		}
		k.tried = true
		f.dialing++
		f.wg.Go(func() { f.dial(a) })
	}
}

// dial connects to a, handshakes and opens the extension protocol, then
// runs the connection's reader; off the loop.
func (f *metaFetch) dial(a netip.AddrPort) {
	conn, err := f.handshake(a)
	if err != nil {
		f.deliver(metaEvent{addr: a, dial: true, err: err})
		return
	}
	mc := &metaConn{addr: a}
	mc.pc = peerconn.New(f.ctx, conn, peerconn.Config{
		// Bitfields, haves, ... mean nothing before we know the torrent:
		// only extended messages (and a DHT port) reach the loop.
		Limits: wire.Limits{MaxBitfield: 1 << 20},
		Deliver: func(ev peerconn.Event) bool {
			if ev.Err == nil && ev.Msg.ID == wire.Port && ev.Msg.Port != 0 && f.c.dht != nil && !f.opts.NoDHT {
				f.c.dht.AddNode(netip.AddrPortFrom(mc.addr.Addr(), ev.Msg.Port))
			}
			if ev.Err == nil && ev.Msg.ID != wire.Extended {
				return true
			}
			return f.deliver(metaEvent{mc: mc, msg: ev.Msg, err: ev.Err})
		},
		MaxOutbox: metaOutbox,
	})
	if !f.deliver(metaEvent{mc: mc, addr: a, dial: true}) {
		mc.pc.Close()
		return
	}
	f.wg.Go(mc.pc.WriteLoop)
	mc.pc.ReadLoop()
}

func (f *metaFetch) handshake(a netip.AddrPort) (net.Conn, error) {
	hs := wire.Handshake{InfoHash: f.mg.InfoHash, PeerID: f.c.cfg.PeerID}
	hs.SetExtended()
	conn, theirs, _, _, err := f.c.dialPeer(f.ctx, a, f.mg.InfoHash, hs)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	switch {
	case theirs.PeerID == f.c.cfg.PeerID:
		err = errors.New("connected to ourselves")
	case !theirs.Extended():
		err = errors.New("peer lacks the extension protocol (BEP 10)")
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	eh := wire.ExtHandshakeMsg{M: map[string]uint8{"ut_metadata": extMetadata, "ut_pex": extPex}, V: clientVersion, P: f.c.port}
	b, _ := eh.AppendBinary(nil)
	if b, err = (&wire.Message{ID: wire.Extended, ExtID: wire.ExtHandshake, Payload: b}).AppendBinary(nil); err == nil {
		_, err = conn.Write(b)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

func (f *metaFetch) deliver(ev metaEvent) bool {
	select {
	case f.evC <- ev:
		return true
	case <-f.ctx.Done():
		return false
	}
}

// handle processes one event; it returns the info dictionary once it has
// been assembled and verified.
func (f *metaFetch) handle(ev metaEvent) ([]byte, error) {
	if ev.dial {
		f.dialing--
		if ev.err != nil {
			f.c.log.Debug("metadata: dial", "peer", ev.addr, "err", ev.err)
			return nil, nil
		}
		if k := f.known[ev.addr]; k != nil {
			k.met = true
		}
		f.conns[ev.mc] = struct{}{}
		return nil, nil
	}
	mc := ev.mc
	if _, ok := f.conns[mc]; !ok {
		return nil, nil
	}
	if ev.err != nil {
		f.drop(mc, ev.err)
		return nil, nil
	}
	info, err := f.handleMsg(mc, ev.msg)
	if err != nil {
		f.drop(mc, err)
	}
	return info, nil
}

func (f *metaFetch) handleMsg(mc *metaConn, m wire.Message) ([]byte, error) {
	switch m.ExtID {
	case wire.ExtHandshake:
		h, err := wire.ParseExtHandshake(m.Payload)
		if err != nil {
			return nil, fmt.Errorf("extension handshake: %w", err)
		}
		mc.meta, mc.pex = h.M["ut_metadata"], h.M["ut_pex"]
		if mc.meta != 0 && h.MetadataSize > 0 {
			if err := f.fetcher.AddPeer(mc, h.MetadataSize); err != nil {
				return nil, err // an absurd size: nothing was allocated
			}
			if f.size == 0 {
				f.size = h.MetadataSize
			}
			f.request(mc, time.Now())
		}
	case extMetadata:
		msg, err := metadata.ParseMsg(m.Payload)
		if err != nil {
			return nil, fmt.Errorf("ut_metadata: %w", err)
		}
		switch msg.Type {
		case metadata.Data:
			res, err := f.fetcher.Data(mc, msg)
			if err != nil {
				return nil, fmt.Errorf("ut_metadata: %w", err)
			}
			for _, bad := range res.Bad {
				f.ban(bad)
			}
			if res.Done {
				return res.Info, nil
			}
		case metadata.Reject:
			f.fetcher.Reject(mc, msg.Piece)
		case metadata.Request:
			// We have nothing to serve yet; say so.
			f.sendExt(mc, mc.meta, metadata.Msg{Type: metadata.Reject, Piece: msg.Piece})
		}
		f.requestAll(time.Now())
	case extPex:
		msg, err := pex.ParseMsg(m.Payload)
		if err != nil {
			return nil, fmt.Errorf("ut_pex: %w", err)
		}
		for _, p := range msg.Added {
			f.addKnown(p.Addr, true)
		}
		f.dialMore()
	}
	return nil, nil
}

// sendExt queues a ut_metadata message for mc.
func (f *metaFetch) sendExt(mc *metaConn, id uint8, msg metadata.Msg) {
	if id == 0 {
		return
	}
	payload, err := msg.AppendBinary(nil)
	if err != nil {
		return
	}
	mc.pc.Send(wire.Message{ID: wire.Extended, ExtID: id, Payload: payload})
}

// request asks mc for the pieces the fetcher gives it.
func (f *metaFetch) request(mc *metaConn, now time.Time) {
	for !mc.closed {
		piece, ok := f.fetcher.Next(mc, now)
		if !ok {
			return
		}
		f.sendExt(mc, mc.meta, metadata.Msg{Type: metadata.Request, Piece: piece})
	}
}

func (f *metaFetch) requestAll(now time.Time) {
	for mc := range f.conns {
		if mc.meta != 0 {
			f.request(mc, now)
		}
	}
}

// ban drops a peer that sent metadata that does not hash, and refuses its
// address for the rest of the fetch.
func (f *metaFetch) ban(mc *metaConn) {
	f.c.log.Warn("metadata: peer sent data that does not match the info-hash", "peer", mc.addr)
	if k := f.known[mc.addr]; k != nil {
		k.banned = true
	}
	f.drop(mc, errors.New("sent bad metadata"))
}

func (f *metaFetch) drop(mc *metaConn, err error) {
	if mc.closed {
		return
	}
	mc.closed = true
	delete(f.conns, mc)
	f.fetcher.RemovePeer(mc)
	mc.pc.Close()
	f.c.log.Debug("metadata: peer dropped", "peer", mc.addr, "err", err)
}

// shutdown closes every connection once the loop has stopped; those
// still on their way to the loop close when the fetch's context ends.
func (f *metaFetch) shutdown() {
	for mc := range f.conns {
		f.drop(mc, ErrClosed)
	}
}

// peers lists the addresses worth trying next: those that answered first,
// never banned ones, and (private torrents) none learned from the DHT or
// PEX.
func (f *metaFetch) peers(private bool) []netip.AddrPort {
	var met, rest []netip.AddrPort
	for a, k := range f.known {
		if k.banned || private && k.open {
			continue
		}
		if k.met {
			met = append(met, a)
		} else {
			rest = append(rest, a)
		}
	}
	return append(met, rest...)
}
