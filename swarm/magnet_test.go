package swarm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/metadata"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/pex"
	"github.com/btfs/btfs/swarm/wire"
)

// fakeMetaPeer is a hand-written peer that answers the extension protocol
// as told: it advertises size and answers every ut_metadata request with
// serve(piece) (nil: a reject). It may also send a PEX message.
type fakeMetaPeer struct {
	ln       net.Listener
	hsDelay  time.Duration // before the extension handshake
	size     int
	serve    func(piece int) []byte
	pex      *pex.Msg
	mu       sync.Mutex
	requests int
	wg       sync.WaitGroup
}

func startFakeMetaPeer(t *testing.T, ih [20]byte, size int, serve func(int) []byte) *fakeMetaPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMetaPeer{ln: ln, size: size, serve: serve}
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Go(func() { f.handle(c, ih) })
		}
	})
	return f
}

func (f *fakeMetaPeer) addr() netip.AddrPort { return netip.MustParseAddrPort(f.ln.Addr().String()) }

func (f *fakeMetaPeer) handle(c net.Conn, ih [20]byte) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := wire.ReadHandshake(c); err != nil {
		return
	}
	hs := wire.Handshake{InfoHash: ih}
	copy(hs.PeerID[:], "-FAKE00-fakefakefake")
	hs.SetExtended()
	if err := writeHandshake(c, hs); err != nil {
		return
	}
	send := func(id uint8, payload []byte) bool {
		b, _ := (&wire.Message{ID: wire.Extended, ExtID: id, Payload: payload}).AppendBinary(nil)
		_, err := c.Write(b)
		return err == nil
	}
	time.Sleep(f.hsDelay)
	eh, _ := wire.ExtHandshakeMsg{M: map[string]uint8{"ut_metadata": 3, "ut_pex": 4}, MetadataSize: f.size}.AppendBinary(nil)
	if !send(0, eh) {
		return
	}
	r := wire.NewReader(bufio.NewReader(c), wire.Limits{})
	var theirs wire.ExtHandshakeMsg
	for {
		m, err := r.Read()
		if err != nil {
			return
		}
		if m.KeepAlive || m.ID != wire.Extended {
			continue
		}
		switch m.ExtID {
		case 0:
			if theirs, err = wire.ParseExtHandshake(m.Payload); err != nil {
				return
			}
			if f.pex != nil && theirs.M["ut_pex"] != 0 {
				b, _ := f.pex.AppendBinary(nil)
				send(theirs.M["ut_pex"], b)
			}
		case 3:
			req, err := metadata.ParseMsg(m.Payload)
			if err != nil || req.Type != metadata.Request {
				return
			}
			f.mu.Lock()
			f.requests++
			f.mu.Unlock()
			reply := metadata.Msg{Type: metadata.Reject, Piece: req.Piece}
			if d := f.serve(req.Piece); d != nil {
				reply = metadata.Msg{Type: metadata.Data, Piece: req.Piece, TotalSize: f.size, Data: d}
			}
			b, _ := reply.AppendBinary(nil)
			if !send(theirs.M["ut_metadata"], b) {
				return
			}
		}
	}
}

// metadataPiece is piece i of info, as BEP 9 cuts it.
func metadataPiece(info []byte, i int) []byte {
	lo := i * metadata.PieceSize
	if lo >= len(info) {
		return nil
	}
	return info[lo:min(lo+metadata.PieceSize, len(info))]
}

// bigFixture has an info dictionary of several 16 KiB metadata pieces.
func bigFixture(t *testing.T) *fixture {
	return newFixture(t, 16*1024, nil, 40<<20/3, 1000, 40<<20/3) // ~1700 pieces, ~34 KB of hashes
}

// TestFetchMetadataFromEngine: a btfs seeder serves its metadata (BEP 9),
// several 16 KiB pieces, to FetchMetadata; the result hashes right.
func TestFetchMetadataFromEngine(t *testing.T) {
	fx := bigFixture(t)
	if n := len(fx.mi.InfoBytes); n < 2*metadata.PieceSize {
		t.Fatalf("fixture's info dict is %d bytes; want several metadata pieces", n)
	}
	s1 := seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true})
	c := newTestClient(t)
	mg := &metainfo.Magnet{InfoHash: fx.mi.InfoHash, Name: "content", Peers: []netip.AddrPort{s1}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var last MetadataStatus
	mi, peers, err := c.FetchMetadata(ctx, mg, MagnetOptions{Progress: func(s MetadataStatus) { last = s }})
	if err != nil {
		t.Fatal(err)
	}
	if mi.InfoHash != fx.mi.InfoHash || !bytes.Equal(mi.InfoBytes, fx.mi.InfoBytes) || mi.Info.NumPieces() != fx.mi.Info.NumPieces() {
		t.Fatal("fetched metadata differs from the torrent's")
	}
	if len(peers) != 1 || peers[0] != s1 {
		t.Errorf("peers = %v, want [%v]", peers, s1)
	}
	if last.Size != len(fx.mi.InfoBytes) || last.Serving != 1 {
		t.Errorf("last progress = %+v", last)
	}
}

// TestFetchMetadataHostile: among honest peers, one sends metadata that
// does not hash, one claims a 1 GiB metadata_size, one rejects every
// request. The fetch succeeds from the honest ones, the liar is not among
// the peers returned, and a PEX message from the rejecting peer adds its
// (honest) neighbour.
func TestFetchMetadataHostile(t *testing.T) {
	fx := bigFixture(t)
	info := fx.mi.InfoBytes
	// The honest peer is slow, so the liar's pieces are stored first and
	// the liar is caught, not just outrun.
	honest := startFakeMetaPeer(t, fx.mi.InfoHash, len(info), func(i int) []byte {
		time.Sleep(150 * time.Millisecond)
		return metadataPiece(info, i)
	})
	liar := startFakeMetaPeer(t, fx.mi.InfoHash, len(info), func(i int) []byte {
		return bytes.Repeat([]byte{'x'}, len(metadataPiece(info, i)))
	})
	huge := startFakeMetaPeer(t, fx.mi.InfoHash, 1<<30, func(i int) []byte { return make([]byte, metadata.PieceSize) })
	rejecter := startFakeMetaPeer(t, fx.mi.InfoHash, len(info), func(int) []byte { return nil })
	neighbour := startFakeMetaPeer(t, fx.mi.InfoHash, len(info), func(i int) []byte { return metadataPiece(info, i) })
	rejecter.pex = &pex.Msg{Added: []pex.Peer{{Addr: neighbour.addr()}}}
	// The honest peers also offer the metadata late, so the liar is
	// always asked first.
	honest.hsDelay, neighbour.hsDelay = 300*time.Millisecond, 300*time.Millisecond

	c := newTestClient(t)
	mg := &metainfo.Magnet{InfoHash: fx.mi.InfoHash, Peers: []netip.AddrPort{liar.addr(), huge.addr(), rejecter.addr(), honest.addr()}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mi, peers, err := c.FetchMetadata(ctx, mg, MagnetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mi.InfoHash != fx.mi.InfoHash {
		t.Fatal("wrong torrent")
	}
	for _, p := range peers {
		if p == liar.addr() {
			t.Errorf("the peer that sent bad metadata is still offered: %v", peers)
		}
	}
	found := false
	for _, p := range peers {
		found = found || p == neighbour.addr()
	}
	if !found {
		t.Errorf("the neighbour learned through PEX is not among %v", peers)
	}
	huge.mu.Lock()
	if huge.requests != 0 {
		t.Errorf("the 1 GiB peer was asked %d times", huge.requests)
	}
	huge.mu.Unlock()
}

// TestFetchMetadataTimeout: with no peer that has the metadata, the fetch
// ends when its context does, with ErrNoMetadata.
func TestFetchMetadataTimeout(t *testing.T) {
	fx := newFixture(t, 16*1024, nil, 5000)
	rejecter := startFakeMetaPeer(t, fx.mi.InfoHash, len(fx.mi.InfoBytes), func(int) []byte { return nil })
	c := newTestClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := c.FetchMetadata(ctx, &metainfo.Magnet{InfoHash: fx.mi.InfoHash, Peers: []netip.AddrPort{rejecter.addr()}}, MagnetOptions{})
	if err == nil || !errors.Is(err, ErrNoMetadata) {
		t.Fatalf("err = %v, want ErrNoMetadata", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("fetch took %v after its context ended", d)
	}
}

// TestTorrentSendsPex: a leecher connected to a seeder tells a third peer
// that speaks ut_pex about the seeder (BEP 11), a few seconds after it
// connected.
func TestTorrentSendsPex(t *testing.T) {
	fx := newFixture(t, 16*1024, nil, 100_000)
	s := seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true})
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{s}})
	waitFor(t, 10*time.Second, func() bool { return tor.Stats().Peers == 1 })
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tor.cl.Port())
	rp := dialRawExt(t, addr, fx.mi.InfoHash)
	_ = rp.conn.SetDeadline(time.Now().Add(15 * time.Second))
	for {
		m := rp.next(wire.Extended)
		if m.ExtID != 7 {
			continue
		}
		msg, err := pex.ParseMsg(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Added) != 1 || msg.Added[0].Addr != s {
			t.Fatalf("pex added %v, want [%v]", msg.Added, s)
		}
		return
	}
}

// dialRawExt is dialRaw with the extension protocol: it advertises ut_pex
// as id 7 and ut_metadata as id 8.
func dialRawExt(t *testing.T, addr netip.AddrPort, ih [20]byte) *rawPeer {
	t.Helper()
	hs := wire.Handshake{InfoHash: ih}
	copy(hs.PeerID[:], "-RAWEXT-rawextrawext")
	hs.SetExtended()
	eh, _ := wire.ExtHandshakeMsg{M: map[string]uint8{"ut_pex": 7, "ut_metadata": 8}, P: 1}.AppendBinary(nil)
	ext, _ := (&wire.Message{ID: wire.Extended, ExtID: 0, Payload: eh}).AppendBinary(nil)
	rp := dialRawWith(t, addr, hs, ext)
	if !rp.hs.Extended() {
		t.Fatal("the engine does not advertise the extension protocol")
	}
	return rp
}

// waitFor polls cond until it holds or d has passed; why, if given, says
// what was seen when it fails.
func waitFor(t *testing.T, d time.Duration, cond func() bool, why ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			for _, f := range why {
				t.Log(f())
			}
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPrivateTorrentTrackersOnly: a private torrent (BEP 27) offers
// neither ut_metadata nor ut_pex, sends no metadata size, and does not
// advertise a DHT node even when the client runs one; a public one on the
// same client does all of that.
func TestPrivateTorrentTrackersOnly(t *testing.T) {
	fx := newFixture(t, 16*1024, nil, 50_000)
	priv, err := metainfo.Build(context.Background(), filepath.Join(fx.dir, "content"), metainfo.BuildOptions{PieceLength: 16 * 1024, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(Config{ListenAddr: "127.0.0.1:0", Logger: testLogger(t), DHT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, tc := range []struct {
		name string
		mi   *metainfo.MetaInfo
		priv bool
	}{{"public", fx.mi, false}, {"private", priv, true}} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := OpenFileStorage(&tc.mi.Info, fx.dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if _, err := st.Verify(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := c.AddTorrent(tc.mi, st, TorrentOptions{Seed: true, NoTrackers: true}); err != nil {
				t.Fatal(err)
			}
			rp := dialRawExt(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.Port()), tc.mi.InfoHash)
			if rp.hs.DHT() == tc.priv {
				t.Errorf("DHT bit = %v for a private=%v torrent", rp.hs.DHT(), tc.priv)
			}
			var eh wire.ExtHandshakeMsg
			for {
				m := rp.next(wire.Extended)
				if m.ExtID == 0 {
					if eh, err = wire.ParseExtHandshake(m.Payload); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
			offers := eh.M["ut_metadata"] != 0 || eh.M["ut_pex"] != 0 || eh.MetadataSize != 0
			if offers == tc.priv {
				t.Errorf("handshake %+v for a private=%v torrent", eh, tc.priv)
			}
			if !tc.priv && eh.MetadataSize != len(tc.mi.InfoBytes) {
				t.Errorf("metadata_size = %d, want %d", eh.MetadataSize, len(tc.mi.InfoBytes))
			}
		})
	}
}
