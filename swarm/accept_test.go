package swarm

import (
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/btfs/btfs/swarm/wire"
)

// emfileListener fails its first fails Accepts the way accept4 does when
// the process is out of file descriptors.
type emfileListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptSurvivesEMFILE: an accept loop that runs out of file
// descriptors backs off and goes on: a peer that connects afterwards
// completes its handshake (issue 15: the loop used to return for good).
func TestAcceptSurvivesEMFILE(t *testing.T) {
	fx := newFixture(t, 64*1024, nil, 200_000)
	c := newTestClient(t)
	if _, err := c.AddTorrent(fx.mi, fileStorage(t, fx), TorrentOptions{Seed: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &emfileListener{Listener: ln}
	fl.fails.Store(5)
	c.wg.Go(func() { c.acceptLoop(fl) })
	t.Cleanup(func() { ln.Close() })
	rp := dialRaw(t, netip.MustParseAddrPort(ln.Addr().String()), fx.mi.InfoHash, true)
	if rp.hs.InfoHash != fx.mi.InfoHash {
		t.Fatal("wrong info-hash in the handshake")
	}
	rp.next(wire.HaveAll)
	if n := fl.fails.Load(); n >= 0 {
		t.Fatalf("%d injected failures left: the loop did not retry through them", n+1)
	}
}
