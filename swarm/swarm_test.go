package swarm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/btfs/btfs/cache"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/tracker/trackertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a torrent on disk: its data and metainfo.
type fixture struct {
	dir  string // data dir: holds Name/...
	mi   *metainfo.MetaInfo
	data []byte // the torrent's concatenated bytes
}

// newFixture writes files of the given sizes under a multi-file torrent.
func newFixture(t testing.TB, pieceLen int64, trackers []string, sizes ...int) *fixture {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "content")
	rng := rand.New(rand.NewPCG(uint64(len(sizes)), uint64(pieceLen)))
	var all []byte
	for i, n := range sizes {
		p := filepath.Join(root, "d"+string(rune('a'+i%3)), "f"+string(rune('a'+i)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n+8)
		for j := 0; j < n; j += 8 {
			binary.LittleEndian.PutUint64(b[j:], rng.Uint64())
		}
		b = b[:n]
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := metainfo.BuildOptions{PieceLength: pieceLen}
	if len(trackers) > 0 {
		opts.Trackers = [][]string{trackers}
	}
	mi, err := metainfo.Build(context.Background(), root, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range mi.Info.Files {
		b, err := os.ReadFile(filepath.Join(append([]string{root}, f.Path...)...))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return &fixture{dir: dir, mi: mi, data: all}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func newTestClient(t testing.TB) *Client {
	t.Helper()
	return newTestClientAt(t, "127.0.0.1")
}

// newTestClientAt starts a client listening on ip (a loopback address):
// bans are by address, so a test whose liar must not take an honest peer
// down with it gives them different ones.
func newTestClientAt(t testing.TB, ip string) *Client {
	t.Helper()
	c, err := NewClient(Config{ListenAddr: net.JoinHostPort(ip, "0"), Logger: testLogger(t), RequestTimeout: 2 * time.Second, MaxAnnounceInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// seed starts a seeding client over storage st and returns its address.
func seed(t testing.TB, fx *fixture, st Storage, opts TorrentOptions) netip.AddrPort {
	t.Helper()
	return seedAt(t, "127.0.0.1", fx, st, opts)
}

// seedAt is seed with the client listening on ip.
func seedAt(t testing.TB, ip string, fx *fixture, st Storage, opts TorrentOptions) netip.AddrPort {
	t.Helper()
	c := newTestClientAt(t, ip)
	opts.Seed = true
	if _, err := c.AddTorrent(fx.mi, st, opts); err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(netip.MustParseAddr(ip), c.Port())
}

func fileStorage(t testing.TB, fx *fixture) *FileStorage {
	t.Helper()
	st, err := OpenFileStorage(&fx.mi.Info, fx.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The fixture's root dir is named "content", which is the torrent name.
	if n, err := st.Verify(context.Background()); err != nil || n != fx.mi.Info.NumPieces() {
		t.Fatalf("verify: %d/%d pieces, %v", n, fx.mi.Info.NumPieces(), err)
	}
	return st
}

func leech(t testing.TB, fx *fixture, opts TorrentOptions) *Torrent {
	t.Helper()
	c := newTestClient(t)
	tor, err := c.AddTorrent(fx.mi, cache.New(1<<30).Pieces(fx.mi.InfoHash, nil, fx.mi.Info.Layout().PieceSize), opts)
	if err != nil {
		t.Fatal(err)
	}
	return tor
}

// readAll reads the whole torrent through one Reader in chunks.
func readAll(ctx context.Context, t testing.TB, tor *Torrent, fx *fixture, chunk int) []byte {
	t.Helper()
	r := tor.NewReader(metainfo.File{Offset: 0, Length: fx.mi.Info.Length})
	defer r.Close()
	out := make([]byte, 0, len(fx.data))
	buf := make([]byte, chunk)
	for off := int64(0); off < fx.mi.Info.Length; {
		n, err := r.ReadAt(ctx, buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("read at %d: %v", off, err)
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	return out
}

func TestDownloadFromThreeSeeders(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 0, 1, 100_000, 1<<20+12345, 16384)
	var peers []netip.AddrPort
	for range 3 {
		peers = append(peers, seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true}))
	}
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: peers})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := readAll(ctx, t, tor, fx, 100_000)
	if !bytes.Equal(got, fx.data) {
		t.Fatalf("downloaded %d bytes differ from the source (%d bytes)", len(got), len(fx.data))
	}
	if s := tor.Stats(); s.Peers < 2 {
		t.Errorf("connected to %d peers, want at least 2 of 3", s.Peers)
	}
}

func TestReadInTheMiddleFirst(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 3<<20)
	p := seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true})
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{p}, Prefetch: PrefetchNone})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := tor.NewReader(fx.mi.Info.Files[0])
	defer r.Close()
	buf := make([]byte, 50_000)
	off := int64(1<<20 + 777)
	n, err := r.ReadAt(ctx, buf, off)
	if err != nil || n != len(buf) || !bytes.Equal(buf, fx.data[off:off+int64(n)]) {
		t.Fatalf("read: n=%d err=%v equal=%v", n, err, bytes.Equal(buf[:n], fx.data[off:off+int64(n)]))
	}
	if s := tor.Stats(); s.PiecesVerified > 3 {
		t.Errorf("a 50 kB read over 32 KiB pieces with prefetch none fetched %d pieces", s.PiecesVerified)
	}
}

func TestTrackerFindsSeeders(t *testing.T) {
	trk := trackertest.New(time.Second)
	srv := httptest.NewServer(trk)
	defer srv.Close()
	fx := newFixture(t, 64*1024, []string{srv.URL + "/announce"}, 700_000, 5)
	for range 2 {
		seed(t, fx, fileStorage(t, fx), TorrentOptions{})
	}
	tor := leech(t, fx, TorrentOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := readAll(ctx, t, tor, fx, 1<<20); !bytes.Equal(got, fx.data) {
		t.Fatal("data through tracker-found peers differs")
	}
}

func TestReadCancelledByContext(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 100_000)
	tor := leech(t, fx, TorrentOptions{NoTrackers: true}) // no peers at all
	r := tor.NewReader(fx.mi.Info.Files[0])
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.ReadAt(ctx, make([]byte, 10), 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancelled read took %v", d)
	}
}

func TestReadFailsWhenTorrentCloses(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 100_000)
	tor := leech(t, fx, TorrentOptions{NoTrackers: true})
	r := tor.NewReader(fx.mi.Info.Files[0])
	errC := make(chan error, 1)
	go func() {
		_, err := r.ReadAt(context.Background(), make([]byte, 10), 0)
		errC <- err
	}()
	time.Sleep(100 * time.Millisecond)
	tor.Close()
	select {
	case err := <-errC:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked read did not return after Close")
	}
}

// corruptStorage serves flipped bytes for some pieces.
type corruptStorage struct {
	Storage
	bad   func(piece int) bool
	reads atomic.Int64
}

func (c *corruptStorage) ReadBlock(piece, begin int, p []byte) (bool, error) {
	ok, err := c.Storage.ReadBlock(piece, begin, p)
	if ok && c.bad(piece) {
		c.reads.Add(1)
		for i := range p {
			p[i] ^= 0x5a
		}
	}
	return ok, err
}

func TestCorruptSeederIsBannedAndDataArrivesIntact(t *testing.T) {
	fx := newFixture(t, 32*1024, nil, 2<<20)
	bad := &corruptStorage{Storage: fileStorage(t, fx), bad: func(int) bool { return true }}
	badAddr := seedAt(t, "127.0.0.2", fx, bad, TorrentOptions{NoTrackers: true})
	good := seed(t, fx, fileStorage(t, fx), TorrentOptions{NoTrackers: true})
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{badAddr, good}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := readAll(ctx, t, tor, fx, 256*1024); !bytes.Equal(got, fx.data) {
		t.Fatal("data differs despite hash checks")
	}
	if bad.reads.Load() == 0 {
		t.Fatal("the corrupt seeder was never asked for data: the test proves nothing")
	}
	banned := make(chan bool, 1)
	tor.do(func() {
		banned <- tor.cl.guard.isBanned(badAddr.Addr()) && !tor.cl.guard.isBanned(good.Addr())
	})
	if !<-banned {
		t.Fatal("corrupt seeder not banned, or good seeder banned")
	}
}

func TestReadaheadGrowsAndSeekResets(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 200<<20)
	tor := leech(t, fx, TorrentOptions{NoTrackers: true, Readahead: 16 << 20})
	r := tor.NewReader(fx.mi.Info.Files[0])
	defer r.Close()
	window := func() int {
		c := make(chan int, 1)
		tor.do(func() { w := tor.windows[r.id]; c <- w[1] - w[0] })
		return <-c
	}
	const read = 128 << 10
	var widths []int
	off := int64(0)
	for range 10 {
		r.track(off, read)
		off += read
		widths = append(widths, window())
	}
	for i := 1; i < len(widths); i++ {
		if widths[i] < widths[i-1] {
			t.Fatalf("window shrank on sequential reads: %v", widths)
		}
	}
	pieces := func(b int64) int { return int(b / fx.mi.Info.PieceLength) }
	// The window spans the 16 MiB readahead past the furthest read, plus
	// up to seqSlack behind it (here all of the 1.25 MiB read so far).
	if last := widths[len(widths)-1]; last < pieces(16<<20) || last > pieces(16<<20+seqSlack)+4 {
		t.Fatalf("window after 10 sequential reads = %d pieces, want about the 16 MiB cap (%d) plus at most %d behind: %v", last, pieces(16<<20), pieces(seqSlack), widths)
	}
	// A late read of an earlier chunk (the kernel sends reads slightly out
	// of order) neither pulls the window's end back nor drops the pieces
	// just behind the furthest read.
	ends := func() [2]int {
		c := make(chan [2]int, 1)
		tor.do(func() { c <- tor.windows[r.id] })
		return <-c
	}
	before := ends()
	r.track(off-3*read, read)
	if after := ends(); after[1] < before[1] || after[0] > before[0] {
		t.Fatalf("an out-of-order read moved the window from %v to %v", before, after)
	}
	if widths[0] > pieces(2*minWindow)+2 {
		t.Fatalf("first window %d pieces, want about %d", widths[0], pieces(minWindow))
	}
	r.track(150<<20, read) // seek
	if w := window(); w > pieces(read)+1 {
		t.Fatalf("window after a seek = %d pieces, want only the read's %d: nothing ahead until the reader proves sequential", w, pieces(read))
	}
	start := make(chan int, 1)
	tor.do(func() { start <- tor.windows[r.id][0] })
	if s := <-start; s != int((150<<20)/fx.mi.Info.PieceLength) {
		t.Fatalf("window starts at piece %d after seeking to piece %d", s, (150<<20)/fx.mi.Info.PieceLength)
	}
	r.track(150<<20+read, read) // sequential again: the window opens
	if w := window(); w < pieces(minWindow) {
		t.Fatalf("window after a sequential read past a seek = %d pieces, want at least %d", w, pieces(minWindow))
	}
}

func TestMediaOpenHintsHeadAndTail(t *testing.T) {
	fx := newFixture(t, 256*1024, nil, 100<<20)
	fx.mi.Info.Files[0].Path = []string{"movie.mkv"}
	tor := leech(t, fx, TorrentOptions{NoTrackers: true})
	r := tor.NewReader(fx.mi.Info.Files[0])
	hints := make(chan [][2]int, 1)
	tor.do(func() { hints <- tor.hints[r.id] })
	h := <-hints
	n := fx.mi.Info.NumPieces()
	if len(h) != 2 || h[0][0] != 0 || h[0][1] < 1 || h[1][1] != n || h[1][0] >= n {
		t.Fatalf("hints %v, want the first and last pieces of %d", h, n)
	}
	r.Close()
	tor.do(func() { hints <- tor.hints[r.id] })
	if h := <-hints; h != nil {
		t.Fatalf("hints survive Close: %v", h)
	}
}
