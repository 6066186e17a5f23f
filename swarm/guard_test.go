package swarm

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/bitfield"
	"github.com/btfs/btfs/swarm/wire"
)

// dialRawFrom is dialRawWith from the local address ip (a loopback
// address), so that bans by address can be told apart.
func dialRawFrom(t testing.TB, ip string, addr netip.AddrPort, hs wire.Handshake) *rawPeer {
	t.Helper()
	conn, err := rawConnFrom(ip, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	b, _ := hs.AppendBinary(nil)
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	theirs, err := wire.ReadHandshake(conn)
	if err != nil {
		t.Fatalf("handshake from %s: %v", ip, err)
	}
	return &rawPeer{t: t, conn: conn, r: wire.NewReader(bufio.NewReader(conn), wire.Limits{}), hs: theirs}
}

func rawConnFrom(ip string, addr netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return d.Dial("tcp", addr.String())
}

// refusedBeforeHandshake reports whether a connection from ip to addr is
// closed without a byte of handshake coming back.
func refusedBeforeHandshake(t *testing.T, ip string, addr netip.AddrPort, hs wire.Handshake) bool {
	t.Helper()
	conn, err := rawConnFrom(ip, addr)
	if err != nil {
		return true // refused at connect: fine too
	}
	defer conn.Close()
	b, _ := hs.AppendBinary(nil)
	_, _ = conn.Write(b)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection from %s neither answered nor closed within 5 s", ip)
	}
	return n == 0 && err != nil
}

// A peer that claims an honest seeder's peer id and sends bad data is
// banned by its address: its reconnects are refused before the handshake,
// while the honest seeder (same id, other address) is still accepted and
// serves the read.
func TestLiarIsBannedByAddressNotPeerID(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 1<<20)
	honestC := newTestClientAt(t, "127.0.0.2")
	if _, err := honestC.AddTorrent(fx.mi, fileStorage(t, fx), TorrentOptions{NoTrackers: true, Seed: true}); err != nil {
		t.Fatal(err)
	}
	honest := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), honestC.Port())
	tor := leech(t, fx, TorrentOptions{NoTrackers: true})
	us := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tor.cl.Port())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan []byte, 1)
	go func() { got <- readAll(ctx, t, tor, fx, 64*1024) }()

	stolen := wire.Handshake{InfoHash: fx.mi.InfoHash, PeerID: honestC.PeerID()}
	stolen.SetFast()
	liar := dialRawFrom(t, "127.0.0.3", us, stolen)
	liar.send(wire.Message{ID: wire.HaveAll})
	liar.send(wire.Message{ID: wire.Unchoke})
	garbage := bytes.Repeat([]byte{0xa5}, 16*1024)
	answered := 0
	for {
		m, err := liar.r.Read()
		if err != nil {
			break // dropped: what we wait for
		}
		if m.KeepAlive || m.ID != wire.Request {
			continue
		}
		b := wire.AppendPiece(nil, m.Index, m.Begin, garbage[:m.Length])
		if _, err := liar.conn.Write(b); err != nil {
			break
		}
		answered++
	}
	if answered == 0 {
		t.Fatal("the liar was never asked for a block: the test proves nothing")
	}
	fresh := wire.Handshake{InfoHash: fx.mi.InfoHash}
	_, _ = crand.Read(fresh.PeerID[:])
	if !refusedBeforeHandshake(t, "127.0.0.3", us, fresh) {
		t.Fatal("the liar's address reconnected with a fresh peer id and got a handshake")
	}
	tor.AddPeers([]netip.AddrPort{honest})
	if data := <-got; !bytes.Equal(data, fx.data) {
		t.Fatal("data differs")
	}
	if !tor.cl.guard.isBanned(netip.MustParseAddr("127.0.0.3")) || tor.cl.guard.isBanned(honest.Addr()) {
		t.Fatal("the liar's address is not banned, or the honest seeder's is")
	}
	// Another address is unaffected.
	dialRawFrom(t, "127.0.0.4", us, fresh)
}

// When a piece fails with blocks from two senders, only the one whose
// block differed is banned; the honest co-sender never is, however many
// pieces it shared with the liar.
func TestHonestCoSenderIsNeverBanned(t *testing.T) {
	// Two pieces of 2 MiB and four seeders: every piece's blocks come
	// from several of them.
	fx := newFixture(t, 2<<20, nil, 4<<20)
	liars := []netip.AddrPort{}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		liars = append(liars, seedAt(t, ip, fx, &corruptStorage{Storage: fileStorage(t, fx), bad: func(int) bool { return true }}, TorrentOptions{NoTrackers: true}))
	}
	// The honest seeder is slow, so the liars surely send their share.
	good := seed(t, fx, &slowStorage{Storage: fileStorage(t, fx), delay: time.Millisecond}, TorrentOptions{NoTrackers: true})
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: append(liars, good)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if got := readAll(ctx, t, tor, fx, 256*1024); !bytes.Equal(got, fx.data) {
		t.Fatal("data differs")
	}
	if tor.cl.guard.isBanned(good.Addr()) {
		t.Fatal("the honest seeder was banned")
	}
	if tor.Stats().WastedFailed == 0 {
		t.Fatal("no piece failed: the liars were never asked, the test proves nothing")
	}
	banned := 0
	for _, l := range liars {
		if tor.cl.guard.isBanned(l.Addr()) {
			banned++
		}
	}
	if banned == 0 {
		t.Fatal("pieces failed but no liar was banned")
	}
	for _, p := range tor.Peers(ctx) {
		if p.Connected && tor.cl.guard.isBanned(p.Addr.Addr()) {
			t.Errorf("banned %v still connected", p.Addr)
		}
	}
}

// mayFetch keeps a parole piece to one owner and away from its suspects
// while a peer that sent none of the failed attempt can send it.
func TestParoleFetchesFromNonSenders(t *testing.T) {
	c := &Client{guard: newGuard(100)}
	tor := &Torrent{cl: c, peers: map[*peer]struct{}{}, pieces: newPieceTable(4, func(int) int { return 16 << 10 })}
	mk := func(ip string) *peer {
		p := &peer{addr: netip.AddrPortFrom(netip.MustParseAddr(ip), 6881), bf: bitfield.New(4), allowedBF: bitfield.New(4)}
		p.bf.SetAll()
		tor.peers[p] = struct{}{}
		return p
	}
	sender, other, clean := mk("127.0.0.2"), mk("127.0.0.3"), mk("127.0.0.4")
	// Piece 1 failed with blocks from sender and other: on parole.
	pd := &pieceDL{suspects: map[netip.Addr]bool{sender.addr.Addr(): true, other.addr.Addr(): true}}
	tor.pieces.set(1, stDownloading)
	tor.pieces.dl[1], tor.pieces.parole[1] = pd, pd
	may := func(p *peer) bool { return tor.pickable(p).Has(1) }
	if may(sender) || may(other) || !may(clean) {
		t.Fatal("with a clean peer able to send, suspects may fetch the parole piece")
	}
	if !tor.pickable(sender).Has(2) || !sender.bf.Has(1) {
		t.Fatal("the parole changed other pieces, or the peer's own bitfield")
	}
	clean.peerChoking = true
	if !may(sender) {
		t.Fatal("with no clean peer able to send, a suspect must be allowed")
	}
	pd.owner = sender
	if may(other) || !may(sender) {
		t.Fatal("a parole piece with an owner went to another peer")
	}
	delete(tor.peers, sender) // the owner leaves: the piece passes on
	if !may(other) || pd.owner != nil {
		t.Fatal("a parole piece stayed with an owner that is gone")
	}
	// Verified: the piece leaves the download table, and its parole ends.
	pd.owner = other
	tor.pieces.set(1, stHashing)
	tor.pieces.set(1, stStoring)
	if len(tor.pieces.parole) != 0 || !may(sender) {
		t.Fatal("a verified piece is still on parole")
	}
}

// Handshakes in progress are bounded: a flood of silent connections is
// turned away at accept, and once it ends a peer handshakes again.
func TestHalfOpenConnectionsAreBounded(t *testing.T) {
	c, err := NewClient(Config{ListenAddr: "127.0.0.1:0", Logger: testLogger(t), MaxConnections: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fx := newFixture(t, 32*1024, nil, 256*1024)
	if _, err := c.AddTorrent(fx.mi, fileStorage(t, fx), TorrentOptions{NoTrackers: true, Seed: true}); err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.Port())
	slots := cap(c.guard.halfOpen)
	var flood []net.Conn
	defer func() {
		for _, f := range flood {
			f.Close()
		}
	}()
	for range slots + 40 {
		f, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, f)
	}
	// The connections beyond the slots are closed at once by us.
	closed := 0
	for _, f := range flood[slots:] {
		_ = f.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := f.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed < 40 {
		t.Fatalf("%d of 40 connections beyond %d handshake slots were closed", closed, slots)
	}
	if n := len(c.guard.halfOpen); n > slots {
		t.Fatalf("%d handshakes in progress, bound %d", n, slots)
	}
	for _, f := range flood {
		f.Close()
	}
	flood = nil
	deadline := time.Now().Add(10 * time.Second)
	for len(c.guard.halfOpen) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d handshake slots still taken 10 s after the flood ended", len(c.guard.halfOpen))
		}
		time.Sleep(10 * time.Millisecond)
	}
	dialRaw(t, addr, fx.mi.InfoHash, true) // a peer handshakes again
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// The connection budget comes from the open-file limit, with a reserve.
func TestConnectionBudgetFromFileLimit(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	want := int64(4096) // an unlimited or huge limit
	if rl.Cur <= 1<<20 {
		want = max(16, int64(rl.Cur)-fdReserve)
	}
	g := newGuard(0)
	if g.maxConns != want {
		t.Fatalf("budget %d with RLIMIT_NOFILE %d, want %d", g.maxConns, rl.Cur, want)
	}
	if cap(g.halfOpen) > maxHalfOpenCap || cap(g.halfOpen) < 4 {
		t.Fatalf("half-open slots %d", cap(g.halfOpen))
	}
	g = newGuard(20)
	g.conns.Store(19)
	if !g.room() || !g.admitHalfOpen() {
		t.Fatal("room for one more refused")
	}
	if g.admitHalfOpen() {
		t.Fatal("a connection beyond the budget admitted")
	}
}
