package swarm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/btfs/btfs/cache"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/wire"
)

// FuzzPeerMessages connects to a running torrent, handshakes (Fast and
// extension protocol), sends a sequence of peer wire messages built from
// the input (see buildFuzzSteps), and half-closes. The first input byte
// picks the torrent: even, a seeder (the upload side: requests, cancels,
// ut_metadata, ut_pex); odd, a leecher fetching everything (the download
// side: bitfields, haves, pieces, rejects, suggests, allowed-fast). An
// "answer" step waits until the torrent has handled everything sent so
// far and sends a block for each request it made, with the right bytes or
// with junk (which fails the hash check and gets the address banned).
// For every input:
//   - everything the torrent sends parses, and every block it asks for
//     exists;
//   - it answers an out-of-range request with a reject while connected;
//   - it closes the connection once it has read the last message;
//   - its event loop still answers, and the peer is gone from it;
//   - an honest peer still handshakes and is served (the seeder sends it a
//     block with the right bytes; the leecher asks it for one);
//   - the goroutine count is back near where it started.
//
// Both torrents run for the whole fuzz process (the leecher is replaced
// when it completes), so an input costs a few loopback connections. Every
// connection of an input comes from its own address in 127.1.0.0 and up,
// so a ban does not outlive it; the honest one comes from 127.0.0.1. The
// leecher's torrent is private, so ut_pex (which would give it addresses
// to dial) is ignored, and neither torrent has trackers or a DHT: nothing
// leaves loopback.
func FuzzPeerMessages(f *testing.F) {
	h := newEngineHarness(f)
	for _, s := range engineSeeds(h.pieces) {
		f.Add(s)
	}
	f.Fuzz(h.run)
}

const (
	// maxFuzzMessages bounds the messages built from one input.
	maxFuzzMessages = 64
	// fuzzWait bounds each wait of an input; fuzzInputTimeout the whole
	// input, past which the worker panics so the hang is reported with
	// its input.
	fuzzWait         = 10 * time.Second
	fuzzInputTimeout = 60 * time.Second
	// fuzzGoroutineSlack is how many goroutines above the idle count an
	// input may leave behind for a while (finishing writers, timers).
	fuzzGoroutineSlack = 40
	// pingIndex is the piece of the request an answer step sends to learn
	// that the torrent has handled everything before it: out of range, so
	// a Fast peer always gets a reject.
	pingIndex = 0xfffffffe
)

// engineHarness is the fixture FuzzPeerMessages shares between inputs.
// Inputs run one at a time in a fuzz process, so its fields need no lock.
type engineHarness struct {
	data      []byte // the torrent's bytes
	layout    metainfo.Layout
	pieces    int
	seeder    *Torrent
	seedAddr  netip.AddrPort
	private   *metainfo.MetaInfo // the leecher's torrent: the same bytes
	lc        *Client
	leecher   *Torrent
	leechAddr netip.AddrPort
	inputs    uint32 // inputs run so far: picks each one's source address
	idle      int    // goroutines between inputs
}

func newEngineHarness(tb testing.TB) *engineHarness {
	// 12 pieces of two blocks, the last one short; 10 are allowed fast.
	const pieceLen = 32 << 10
	fx := newFixture(tb, pieceLen, nil, 12*pieceLen-5000)
	h := &engineHarness{data: fx.data, layout: fx.mi.Info.Layout(), pieces: fx.mi.Info.NumPieces()}

	sc := newTestClient(tb)
	seeder, err := sc.AddTorrent(fx.mi, fileStorage(tb, fx), TorrentOptions{Seed: true, NoTrackers: true})
	if err != nil {
		tb.Fatal(err)
	}
	h.seeder, h.seedAddr = seeder, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), sc.Port())

	h.private, err = metainfo.Build(context.Background(), filepath.Join(fx.dir, "content"),
		metainfo.BuildOptions{PieceLength: pieceLen, Private: true})
	if err != nil {
		tb.Fatal(err)
	}
	h.lc = newTestClient(tb)
	h.leechAddr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), h.lc.Port())
	h.startLeecher(tb)
	h.idle = runtime.NumGoroutine()
	return h
}

// startLeecher adds the leecher's torrent, empty, to its client.
func (h *engineHarness) startLeecher(t testing.TB) {
	st := cache.New(1<<30).Pieces(h.private.InfoHash, nil, h.private.Info.Layout().PieceSize)
	var err error
	// The client forgets a closed torrent just after it stops.
	pollFor(func() bool {
		h.leecher, err = h.lc.AddTorrent(h.private, st, TorrentOptions{NoTrackers: true, Prefetch: PrefetchAll})
		return err == nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (h *engineHarness) run(t *testing.T, in []byte) {
	defer time.AfterFunc(fuzzInputTimeout, func() { panic(fmt.Sprintf("input took over %v", fuzzInputTimeout)) }).Stop()
	tor, addr := h.seeder, h.seedAddr
	if len(in) > 0 && in[0]&1 == 1 {
		tor, addr = h.leecher, h.leechAddr
	}
	h.inputs++
	src := fuzzSource(h.inputs)
	fc := h.dial(t, tor, addr, src)
	defer fc.close()
	for _, st := range buildFuzzSteps(in, (h.pieces+7)/8) {
		var err error
		if st.answer {
			err = h.answer(t, fc, st.fill)
		} else {
			_, err = fc.conn.Write(st.raw)
		}
		if err != nil {
			break // the torrent dropped the connection
		}
	}
	_ = fc.conn.(*net.TCPConn).CloseWrite()
	fc.stop()
	select {
	case <-fc.done:
	case <-time.After(fuzzWait + time.Second):
		t.Fatalf("connection kept open %v after the peer's last message", fuzzWait)
	}
	if fc.bad != nil {
		t.Fatalf("the torrent sent a message that does not parse: %v", fc.bad)
	}

	// The loop answers and has let the peer go.
	peerGone := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), fuzzWait)
		defer cancel()
		ps := tor.Peers(ctx)
		if ctx.Err() != nil {
			t.Fatal("torrent loop did not answer Peers")
		}
		for _, p := range ps {
			if p.Connected && p.Addr.Addr() == src {
				return false
			}
		}
		return true
	}
	if !pollFor(peerGone) {
		t.Fatal("closed connection still listed as a peer")
	}

	if tor == h.seeder {
		h.honestLeecher(t)
	} else {
		h.honestSeeder(t)
	}
	if !pollFor(func() bool { return tor.Stats().Peers == 0 }) {
		t.Fatalf("%d peers still connected", tor.Stats().Peers)
	}
	select {
	case <-h.leecher.Complete(): // nothing left to fetch: start again
		h.leecher.Close()
		h.startLeecher(t)
	default:
	}
	if !pollFor(func() bool { return runtime.NumGoroutine() <= h.idle+fuzzGoroutineSlack }) {
		t.Fatalf("%d goroutines after the input, %d when idle", runtime.NumGoroutine(), h.idle)
	}
}

// fuzzConn is the fuzz peer's connection. A goroutine reads what the
// torrent sends until it closes the connection.
type fuzzConn struct {
	conn    net.Conn
	got     chan wire.Message // the torrent's requests and rejects
	quit    chan struct{}     // closed by stop: read on without handing them over
	done    chan struct{}     // closed when the torrent closed the connection
	bad     error             // set before done: a message that did not parse
	stopped bool              // quit is closed
}

func (h *engineHarness) dial(t *testing.T, tor *Torrent, addr netip.AddrPort, src netip.Addr) *fuzzConn {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: fuzzWait}
	conn, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatalf("dial from %v: %v", src, err)
	}
	hs := wire.Handshake{InfoHash: tor.InfoHash()}
	copy(hs.PeerID[:], "-FUZZ00-")
	binary.BigEndian.PutUint32(hs.PeerID[16:], h.inputs)
	hs.SetFast()
	hs.SetExtended()
	b, _ := hs.AppendBinary(nil)
	_ = conn.SetDeadline(time.Now().Add(fuzzInputTimeout))
	if _, err = conn.Write(b); err == nil {
		_, err = wire.ReadHandshake(conn)
	}
	if err != nil {
		conn.Close()
		t.Fatalf("handshake from %v: %v", src, err)
	}
	fc := &fuzzConn{conn: conn, got: make(chan wire.Message, 1024), quit: make(chan struct{}), done: make(chan struct{})}
	go fc.read()
	return fc
}

func (fc *fuzzConn) read() {
	defer close(fc.done)
	r := wire.NewReader(bufio.NewReader(fc.conn), wire.Limits{})
	for {
		m, err := r.Read()
		if errors.Is(err, wire.ErrProtocol) {
			fc.bad = err
			_, _ = io.Copy(io.Discard, fc.conn)
		}
		if err != nil {
			return
		}
		if !m.KeepAlive && (m.ID == wire.Request || m.ID == wire.Reject) {
			select {
			case fc.got <- m: // no payload: nothing to copy
			case <-fc.quit:
			}
		}
	}
}

// stop makes the reader read on without handing messages over: nobody
// will answer them.
func (fc *fuzzConn) stop() {
	if !fc.stopped {
		fc.stopped = true
		close(fc.quit)
	}
}

// close closes the connection and waits for the reader.
func (fc *fuzzConn) close() {
	fc.stop()
	fc.conn.Close()
	<-fc.done
}

// answer sends a request for pingIndex and waits for its reject: the
// torrent has then handled every message before it. It answers each
// request the torrent made meanwhile with a block: its bytes if fill is
// 0, else junk of fill. An error means the connection is gone.
func (h *engineHarness) answer(t *testing.T, fc *fuzzConn, fill byte) error {
	if _, err := fc.conn.Write(wire.AppendRequest(nil, wire.Request, pingIndex, 0, 1)); err != nil {
		return err
	}
	var asked []wire.Message
	timeout := time.After(fuzzWait)
	for pinged := false; !pinged; {
		select {
		case m := <-fc.got:
			switch {
			case m.ID == wire.Reject:
				pinged = m.Index == pingIndex && m.Begin == 0 && m.Length == 1
			case !h.layout.ValidBlock(m.Index, m.Begin, m.Length) || m.Begin%metainfo.BlockSize != 0 ||
				int(m.Length) != h.layout.BlockSize(int(m.Index), int(m.Begin/metainfo.BlockSize)):
				t.Fatalf("the torrent asked for block %d/%d+%d", m.Index, m.Begin, m.Length)
			default:
				asked = append(asked, m)
			}
		case <-fc.done:
			return io.EOF
		case <-timeout:
			t.Fatalf("no reject for an out-of-range request within %v", fuzzWait)
		}
	}
	var out []byte
	for _, m := range asked {
		off := h.layout.PieceOffset(int(m.Index)) + int64(m.Begin)
		block := h.data[off : off+int64(m.Length)]
		if fill != 0 {
			block = bytes.Repeat([]byte{fill}, len(block))
		}
		out = wire.AppendPiece(out, m.Index, m.Begin, block)
	}
	_, err := fc.conn.Write(out)
	return err
}

// honestLeecher checks that the seeder still serves: a block of a piece it
// allows fast, with the right bytes.
func (h *engineHarness) honestLeecher(t *testing.T) {
	rp := dialRaw(t, h.seedAddr, h.seeder.InfoHash(), true)
	defer rp.conn.Close()
	rp.next(wire.HaveAll)
	i := int(rp.next(wire.AllowedFast).Index)
	n := h.layout.BlockSize(i, 0)
	rp.send(wire.Message{ID: wire.Request, Index: uint32(i), Length: uint32(n)})
	m := rp.next(wire.Piece)
	off := h.layout.PieceOffset(i)
	if m.Index != uint32(i) || m.Begin != 0 || !bytes.Equal(m.Payload, h.data[off:off+int64(n)]) {
		t.Fatalf("asked piece %d block 0, got piece %d at %d (%d bytes): wrong", i, m.Index, m.Begin, len(m.Payload))
	}
}

// honestSeeder checks that the leecher still downloads: a peer that has
// every piece and unchokes it is asked for a block, unless the leecher
// completes first (it may still be hashing what the fuzz peer sent).
func (h *engineHarness) honestSeeder(t *testing.T) {
	rp := dialRaw(t, h.leechAddr, h.leecher.InfoHash(), true)
	rp.send(wire.Message{ID: wire.HaveAll})
	rp.send(wire.Message{ID: wire.Unchoke})
	type result struct {
		m   wire.Message
		err error
	}
	got := make(chan result, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := rp.r.Read()
			if err != nil || !m.KeepAlive && m.ID == wire.Request {
				got <- result{m, err}
				return
			}
		}
	}()
	defer func() {
		rp.conn.Close()
		<-done
	}()
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("waiting for a request: %v", r.err)
		}
		if !h.layout.ValidBlock(r.m.Index, r.m.Begin, r.m.Length) {
			t.Fatalf("leecher asked for block %d/%d+%d", r.m.Index, r.m.Begin, r.m.Length)
		}
	case <-h.leecher.Complete():
	}
}

// pollFor polls cond until it holds or fuzzWait passes.
func pollFor(cond func() bool) bool {
	deadline := time.Now().Add(fuzzWait)
	for d := 100 * time.Microsecond; ; d = min(2*d, 50*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(d)
	}
}

// fuzzSource returns the k-th source address, counting from 127.1.0.0:
// distinct for the first 16 million inputs, and never 127.0.0.1.
func fuzzSource(k uint32) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], 127<<24|1<<16+k%(1<<24-1<<16))
	return netip.AddrFrom4(a)
}
