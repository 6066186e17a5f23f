package swarm

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btfs/btfs/swarm/announce"
	"github.com/btfs/btfs/swarm/bitfield"
	"github.com/btfs/btfs/swarm/choker"
	"github.com/btfs/btfs/swarm/hasher"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/peerconn"
	"github.com/btfs/btfs/swarm/picker"
	"github.com/btfs/btfs/swarm/wire"
)

// Torrent is one torrent's swarm. Its mutable state belongs to the run
// goroutine; public methods send it commands and never touch that state.
type Torrent struct {
	cl      *Client
	mi      *metainfo.MetaInfo
	info    *metainfo.Info
	layout  metainfo.Layout
	storage Storage
	opts    TorrentOptions
	log     *slog.Logger
	blocks  peerconn.Pool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	wg     sync.WaitGroup

	cmdC      chan func()
	eventC    chan peerEvent
	hasher    *hasher.Pool
	store     *storer
	completeC chan struct{}   // closed when every piece is verified
	announcer *announce.Tiers // nil without trackers; set before run starts

	// Counters read by Stats from any goroutine.
	downloaded atomic.Int64 // verified payload bytes fetched
	uploaded   atomic.Int64
	nVerified  atomic.Int64
	nPeers     atomic.Int64
	left       atomic.Int64
	readerIDs  atomic.Int64
	dhtPeers   atomic.Int64 // peer addresses the DHT returned
	// Block bytes received and not used, by cause.
	wastedDup    atomic.Int64 // another peer's copy came first
	wastedLate   atomic.Int64 // arrived after its request was cancelled or timed out
	wastedFailed atomic.Int64 // the piece failed its hash check
	// a partial download nobody wanted any more
	wastedDiscarded atomic.Int64
	dupReqs         atomic.Int64 // second requests sent for late blocks under blocked reads
	warmC           chan int     // piece indices for the warmers; nil without a slow tier

	// budget is the shared byte budget the buffers of pieces downloading,
	// hashing and storing are charged to (nil: storage has none; then
	// only Backlog bounds them).
	budget    budgeter
	allocator allocator // nil: fresh buffers
	// evicted collects pieces the cache reports gone (its watch callback
	// runs under the cache's lock, so it only appends and signals evictC).
	evictMu   sync.Mutex
	evicted   []int
	evictC    chan struct{}
	stopWatch func()

	// --- owned by run ---
	pieces *pieceTable // every piece's state: the one record of its life
	// inProgress reports whether a piece has a buffer (for the picker's
	// limit on new pieces); made once, so Pick calls do not allocate it.
	inProgress func(piece int) bool
	hashQ      []hasher.Job
	storeQ     []storeJob
	hints      map[int][][2]int // reader id -> piece ranges to fetch early (media head/tail)
	peers      map[*peer]struct{}
	peerIDs    map[[20]byte]*peer
	hasScratch bitfield.Bitfield // a peer's pickable pieces when some are on parole
	known      map[netip.AddrPort]*knownPeer
	dialing    int
	waiters    map[int][]*waiter // piece -> reads blocked on it
	windows    map[int][2]int    // reader id -> readahead pieces [start, end)
	pk         *picker.Picker
	basePrio   picker.Priority // of pieces no reader asked for
	prioDirty  bool
	prioSet    []int // pieces whose priority differs from basePrio
	prioWant   map[int]prioDeadline
	pickBuf    []picker.Block
	choker     *choker.Choker
	chokeIn    []choker.Peer
	lastChoke  time.Time
	nextCID    int
}

// knownPeer is an address we may dial, with back-off after failures.
type knownPeer struct {
	connected bool
	dialing   bool
	fails     int
	next      time.Time
	self      bool      // it is ourselves: never dialled again (bans are the guard's)
	attempts  []Attempt // the last few tries, for status
}

func newTorrent(c *Client, mi *metainfo.MetaInfo, st Storage, opts TorrentOptions) *Torrent {
	if opts.Readahead <= 0 {
		opts.Readahead = 32 << 20
	}
	if opts.Backlog <= 0 {
		opts.Backlog = defaultBacklog
	}
	ctx, cancel := context.WithCancel(c.ctx)
	t := &Torrent{
		cl: c, mi: mi, info: &mi.Info, layout: mi.Info.Layout(), storage: st, opts: opts,
		log: c.log.With("torrent", mi.Info.Name),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		cmdC:      make(chan func(), 64),
		eventC:    make(chan peerEvent, 256),
		completeC: make(chan struct{}),
		evictC:    make(chan struct{}, 1),
		peers:     map[*peer]struct{}{},
		peerIDs:   map[[20]byte]*peer{},
		known:     map[netip.AddrPort]*knownPeer{},
		waiters:   map[int][]*waiter{},
		hints:     map[int][][2]int{},
		windows:   map[int][2]int{},
	}
	t.hasher = hasher.New(ctx, max(1, runtime.NumCPU()))
	t.store = newStorer(ctx, t.put, storeWorkers)
	t.choker = choker.New(uint64(time.Now().UnixNano()))
	t.lastChoke = time.Now() // first round after chokeEvery; newcomers get free slots at once
	t.pk = picker.New(t.layout.NumPieces, t.layout.NumBlocks, uint64(time.Now().UnixNano()))
	if opts.Prefetch == PrefetchAll && !opts.Seed {
		t.basePrio = picker.Normal
	}
	// A block is asked of a second peer only when that buys time: in true
	// endgame (every missing piece wanted and requested), or when its
	// request under a blocked read is late (rescueLate). Streaming with a
	// window never reaches true endgame: only what is read is wanted.
	t.pk.SetDuplicates(false, t.basePrio != picker.None)
	t.pieces = newPieceTable(t.layout.NumPieces, t.layout.PieceSize)
	t.inProgress = func(i int) bool { return t.pieces.get(i) != stMissing }
	if b, ok := st.(budgeter); ok {
		t.budget = b
	}
	if a, ok := st.(allocator); ok {
		t.allocator = a
	}
	if w, ok := st.(evictWatcher); ok {
		t.stopWatch = w.Watch(t.noteEvicted)
	}
	for i := range t.layout.NumPieces {
		if st.Has(i) {
			t.setState(i, stHeld)
		} else if t.basePrio != picker.None {
			t.pk.SetPriority(i, t.basePrio, 0)
		}
	}
	t.updateCounters()
	for _, a := range opts.Peers {
		t.known[a] = &knownPeer{}
	}
	t.startWarmers()
	t.wg.Go(t.run)
	if !opts.NoTrackers {
		t.startAnnouncers()
	}
	t.startDHTAnnouncer()
	return t
}

// Close disconnects every peer, tells trackers we stopped, and waits for
// every goroutine of the torrent. Blocked reads fail with ErrClosed.
func (t *Torrent) Close() error {
	t.cancel()
	t.wg.Wait()
	t.hasher.Wait()
	t.store.wg.Wait()
	if t.stopWatch != nil {
		t.stopWatch()
	}
	return nil
}

// signalComplete closes completeC the first time every piece is held; a
// piece lost later (evicted, corrupt) does not reopen it.
func (t *Torrent) signalComplete() {
	select {
	case <-t.completeC:
	default:
		close(t.completeC)
	}
}

// Complete is closed once every piece has been verified.
func (t *Torrent) Complete() <-chan struct{} { return t.completeC }

// Done is closed when the torrent has stopped.
func (t *Torrent) Done() <-chan struct{} { return t.done }

// InfoHash returns the torrent's info-hash.
func (t *Torrent) InfoHash() [20]byte { return t.mi.InfoHash }

// Stats is a snapshot of a torrent's progress.
type Stats struct {
	Peers          int
	PiecesVerified int
	Pieces         int
	Downloaded     int64
	Uploaded       int64
	Left           int64
	// Wasted counts block bytes received and thrown away: duplicates,
	// blocks that arrived after their request was cancelled or timed out,
	// pieces that failed their hash check, and partial downloads given up
	// when nobody wanted them any more (the sum of the four below).
	Wasted                                               int64
	WastedDup, WastedLate, WastedFailed, WastedDiscarded int64
	// DupRequests counts second requests for late blocks under reads.
	DupRequests int64
}

// Stats returns current counters.
func (t *Torrent) Stats() Stats {
	return Stats{
		Peers:           int(t.nPeers.Load()),
		PiecesVerified:  int(t.nVerified.Load()),
		Pieces:          t.layout.NumPieces,
		Downloaded:      t.downloaded.Load(),
		Uploaded:        t.uploaded.Load(),
		Left:            t.left.Load(),
		Wasted:          t.wastedDup.Load() + t.wastedLate.Load() + t.wastedFailed.Load() + t.wastedDiscarded.Load(),
		WastedDiscarded: t.wastedDiscarded.Load(),
		WastedDup:       t.wastedDup.Load(),
		WastedLate:      t.wastedLate.Load(),
		WastedFailed:    t.wastedFailed.Load(),
		DupRequests:     t.dupReqs.Load(),
	}
}

// do runs f on the loop. It reports false when the torrent has stopped.
func (t *Torrent) do(f func()) bool {
	select {
	case t.cmdC <- f:
		return true
	case <-t.ctx.Done():
		return false
	}
}

// ask runs f on t's loop and returns its result, or false when ctx ends
// or the torrent stops first.
func ask[T any](ctx context.Context, t *Torrent, f func() T) (T, bool) {
	c := make(chan T, 1)
	var zero T
	select {
	case t.cmdC <- func() { c <- f() }:
	case <-ctx.Done():
		return zero, false
	case <-t.ctx.Done():
		return zero, false
	}
	select {
	case v := <-c:
		return v, true
	case <-ctx.Done():
		return zero, false
	case <-t.ctx.Done():
		return zero, false
	}
}

// deliver hands a peer event to the loop.
func (t *Torrent) deliver(ev peerEvent) bool {
	select {
	case t.eventC <- ev:
		return true
	case <-t.ctx.Done():
		return false
	}
}

// AddPeers gives the torrent more addresses to try.
func (t *Torrent) AddPeers(addrs []netip.AddrPort) {
	t.do(func() { t.handleAddPeers(addrs) })
}

func (t *Torrent) ourHandshake() wire.Handshake {
	hs := wire.Handshake{InfoHash: t.mi.InfoHash, PeerID: t.cl.cfg.PeerID}
	hs.SetFast()
	hs.SetExtended()
	if t.dhtNode() != nil {
		hs.SetDHT()
	}
	return hs
}

// addConn hands a handshaken incoming connection, made the way w, to the
// loop.
func (t *Torrent) addConn(conn net.Conn, hs wire.Handshake, w way) {
	if !t.do(func() { t.handleConn(conn, hs, false, w) }) {
		conn.Close()
	}
}

func (t *Torrent) run() {
	defer close(t.done)
	defer t.shutdown()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	rescue := time.NewTicker(rescueEvery)
	defer rescue.Stop()
	t.connectMore()
	for {
		var hashIn chan<- hasher.Job
		var next hasher.Job
		if len(t.hashQ) > 0 {
			hashIn, next = t.hasher.In(), t.hashQ[0]
		}
		var storeIn chan<- storeJob
		var nextStore storeJob
		if len(t.storeQ) > 0 {
			storeIn, nextStore = t.store.in, t.storeQ[0]
		}
		select {
		case <-t.ctx.Done():
			return
		case f := <-t.cmdC:
			f()
		case ev := <-t.eventC:
			t.handleEvent(ev)
		case hashIn <- next:
			t.hashQ = t.hashQ[1:]
		case r := <-t.hasher.Out():
			t.handleVerdict(r)
		case storeIn <- nextStore:
			t.storeQ = t.storeQ[1:]
		case r := <-t.store.out:
			t.handleStored(r)
		case <-t.evictC:
			t.handleEvicted()
		case now := <-tick.C:
			t.handleTick(now)
		case now := <-rescue.C:
			t.rescueLate(now)
		}
	}
}

// shutdown closes every connection (the peer goroutines then exit) and
// writes the verified pieces still queued for storage, so a piece a reader
// already got is not lost by an unmount (the storer's workers finish the
// Put they are in; the queue behind them is at most the backlog).
func (t *Torrent) shutdown() {
	for p := range t.peers {
		p.shut()
	}
	t.cl.guard.conns.Add(-int64(len(t.peers)))
	t.nPeers.Store(0)
	if t.budget != nil {
		for _, pd := range t.pieces.dl { // partial downloads: never stored
			t.budget.Release(int64(len(pd.buf)))
		}
	}
	for _, j := range t.storeQ {
		if err := t.put(j.piece, j.b); err != nil {
			t.log.Warn("store piece at close", "piece", j.piece, "err", err)
		}
		j.b.Unref()
	}
	t.storeQ = nil
}

func (t *Torrent) handleTick(now time.Time) {
	for p := range t.peers {
		t.expireRequests(p, now)
		if !p.amInterested && !p.peerInterested && now.Sub(p.lastUseful) > t.cl.cfg.uselessAfter {
			t.dropPeer(p, errUseless)
		}
	}
	if now.Sub(t.lastChoke) >= chokeEvery {
		t.lastChoke = now
		t.rechoke(now)
	}
	t.sendPex(now)
	t.connectMore()
}

// handleAddPeers remembers new addresses, up to maxKnownPeers. When full,
// addresses that failed repeatedly or are banned make room first; the
// ones that work or were never tried are kept, and the rest of a huge
// list is not even looked at.
func (t *Torrent) handleAddPeers(addrs []netip.AddrPort) {
	pruned := false
	for _, a := range addrs {
		if len(t.known) >= maxKnownPeers {
			if pruned {
				break
			}
			t.pruneKnown()
			pruned = true
			if len(t.known) >= maxKnownPeers {
				break
			}
		}
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if !a.IsValid() || a.Port() == 0 || a.Addr().IsUnspecified() || a.Addr().IsMulticast() || t.cl.guard.isBanned(a.Addr()) {
			continue
		}
		if _, ok := t.known[a]; !ok {
			t.known[a] = &knownPeer{}
		}
	}
	t.connectMore()
}

// pruneKnown forgets known addresses that are banned or failed at least
// pruneFails times in a row and are neither connected nor being dialled.
func (t *Torrent) pruneKnown() {
	for a, k := range t.known {
		if !k.connected && !k.dialing && (k.self || k.fails >= pruneFails || t.cl.guard.isBanned(a.Addr())) {
			delete(t.known, a)
		}
	}
}

// connectMore dials known peers while there is room.
func (t *Torrent) connectMore() {
	if t.opts.Seed {
		return // seeders wait for leechers to come to them
	}
	now := time.Now()
	for a, k := range t.known {
		if len(t.peers)+t.dialing >= t.cl.cfg.MaxPeers || !t.cl.guard.room() {
			return
		}
		if k.connected || k.dialing || k.self || now.Before(k.next) || t.cl.guard.isBanned(a.Addr()) {
			continue
		}
		k.dialing = true
		t.dialing++
		t.wg.Go(func() { t.dial(a) })
	}
}

// dial connects and handshakes with one address, off the loop.
func (t *Torrent) dial(a netip.AddrPort) {
	conn, hs, w, attempts, err := t.cl.dialPeer(t.ctx, a, t.mi.InfoHash, t.ourHandshake())
	t.do(func() {
		t.dialing--
		k := t.known[a]
		k.dialing = false
		k.attempts = append(k.attempts, attempts...)
		if n := len(k.attempts) - maxAttempts; n > 0 {
			k.attempts = append(k.attempts[:0], k.attempts[n:]...)
		}
		if err != nil {
			k.fails++
			k.next = time.Now().Add(backoff(k.fails))
			t.log.Debug("dial failed", "peer", a, "err", err)
			return
		}
		k.fails = 0
		t.handleConn(conn, hs, true, w)
	})
	if t.ctx.Err() != nil && conn != nil {
		conn.Close()
	}
}

func backoff(fails int) time.Duration {
	d := time.Second << min(fails, 8)
	return min(d, 5*time.Minute)
}

// handleConn admits a handshaken connection as a peer.
func (t *Torrent) handleConn(conn net.Conn, hs wire.Handshake, outgoing bool, w way) {
	if hs.PeerID == t.cl.cfg.PeerID {
		if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil && outgoing {
			if k := t.known[ap]; k != nil {
				k.self = true
			}
		}
		conn.Close()
		return
	}
	if _, dup := t.peerIDs[hs.PeerID]; dup || t.cl.guard.bannedConn(conn) {
		conn.Close()
		return
	}
	// Incoming peers may take only part of the slots, so a flood of them
	// (idle, within their grace period) never shuts out the peers we dial
	// (a seeder dials nobody: all its slots are theirs).
	inFull := !outgoing && !t.opts.Seed && t.incoming() >= t.cl.cfg.MaxPeers-outgoingSlots(t.cl.cfg.MaxPeers)
	if inFull || len(t.peers) >= t.cl.cfg.MaxPeers || !t.cl.guard.room() {
		v := t.leastUseful(time.Now(), inFull)
		if v == nil {
			conn.Close()
			return
		}
		t.dropPeer(v, errReplaced)
	}
	p := newPeer(t, conn, hs, outgoing)
	p.way = w
	t.nextCID++
	p.cid = t.nextCID
	if outgoing {
		if k := t.known[p.addr]; k != nil {
			k.connected = true
		}
	}
	t.peers[p] = struct{}{}
	t.peerIDs[hs.PeerID] = p
	t.cl.guard.conns.Add(1)
	t.nPeers.Store(int64(len(t.peers)))
	t.sendHaves(p)
	if hs.Extended() {
		t.sendExtHandshake(p)
		// The first PEX message goes out a few seconds after connecting,
		// later ones every pexEvery.
		p.ext.lastPexOut = time.Now().Add(firstPexAfter - pexEvery)
	}
	if d := t.dhtNode(); d != nil && hs.DHT() {
		p.send(wire.Message{ID: wire.Port, Port: d.Addr().Port()})
	}
	t.wg.Go(p.pc.ReadLoop)
	t.wg.Go(p.pc.WriteLoop)
	t.log.Debug("peer connected", "peer", p.addr, "outgoing", outgoing, "way", w)
}

// leastUseful returns the connected peer (with incomingOnly, one that
// dialled us), past its grace period and of no use so far, that moves the
// fewest bytes either way, or nil when every peer is new or useful. A flood of newcomers that only handshake thus
// churns among themselves, never displacing a peer that serves us or
// that we serve.
func (t *Torrent) leastUseful(now time.Time, incomingOnly bool) *peer {
	var worst *peer
	var worstScore float64
	for p := range t.peers {
		if now.Sub(p.since) < t.cl.cfg.peerGrace || t.useful(p) || incomingOnly && p.outgoing {
			continue
		}
		score := p.rate + p.upRate
		if worst == nil || score < worstScore {
			worst, worstScore = p, score
		}
	}
	return worst
}

// outgoingSlots is how many of n peer slots incoming peers may not take:
// a fifth, at least one when there are two slots or more.
func outgoingSlots(n int) int {
	return min(n/2, max(1, n/5))
}

// incoming counts the connected peers that dialled us.
func (t *Torrent) incoming() int {
	n := 0
	for p := range t.peers {
		if !p.outgoing {
			n++
		}
	}
	return n
}

// useful reports whether a peer has sent us a block, taken one from us,
// or has pieces we want and lets us ask.
func (t *Torrent) useful(p *peer) bool {
	return p.downloaded > 0 || p.pc.Uploaded() > 0 || p.amInterested && !p.peerChoking
}

// sendHaves tells a new peer what we have: have-all/have-none when both
// sides speak the Fast extension, else a bitfield (omitted when empty).
// Fast peers also learn their allowed-fast pieces among those we hold.
func (t *Torrent) sendHaves(p *peer) {
	switch {
	case p.fast && t.pieces.verified.Full():
		p.send(wire.Message{ID: wire.HaveAll})
	case p.fast && t.pieces.verified.Count() == 0:
		p.send(wire.Message{ID: wire.HaveNone})
	case t.pieces.verified.Count() > 0:
		bf := t.pieces.verified.Clone()
		p.send(wire.Message{ID: wire.Bitfield, Payload: bf.Bytes()})
	}
	if !p.fast {
		return
	}
	for _, i := range allowedFastSet(p.addr.Addr(), t.mi.InfoHash, t.layout.NumPieces, allowedFastCount) {
		p.ourAllowed[i] = true
		if t.pieces.verified.Has(i) {
			p.send(wire.Message{ID: wire.AllowedFast, Index: uint32(i)})
		}
	}
}

// dropPeer forgets a peer and frees what it was fetching.
func (t *Torrent) dropPeer(p *peer, err error) {
	if _, ok := t.peers[p]; !ok {
		return
	}
	p.shut()
	delete(t.peers, p)
	delete(t.peerIDs, p.id)
	t.cl.guard.conns.Add(-1)
	t.pk.PeerGone(&p.bf)
	t.nPeers.Store(int64(len(t.peers)))
	if k := t.known[p.addr]; k != nil && p.outgoing {
		k.connected = false
		k.next = time.Now().Add(backoff(k.fails + 1))
	}
	for ref := range p.inflight {
		t.release(ref)
	}
	clear(p.inflight)
	t.log.Debug("peer dropped", "peer", p.addr, "err", err)
	t.fillAll()
	t.connectMore()
}
