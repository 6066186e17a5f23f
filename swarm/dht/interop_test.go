package dht

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const python = "/usr/bin/python3" // Debian's python3-libtorrent is built for it

// ltNode is a libtorrent DHT node run by testdata/lt_dht.py.
type ltNode struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	port   int
	mu     sync.Mutex
	stderr bytes.Buffer
}

func (l *ltNode) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stderr.Write(p)
}

func startLibtorrent(t *testing.T, ip string, bootstrap netip.AddrPort) *ltNode {
	l := &ltNode{t: t, lines: make(chan string, 1000)}
	l.cmd = exec.Command(python, "testdata/lt_dht.py", ip, bootstrap.String(), t.TempDir())
	l.cmd.Stderr = l
	var err error
	if l.stdin, err = l.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(l.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case l.lines <- sc.Text():
			default: // nobody is listening for that much
			}
		}
	}()
	t.Cleanup(func() {
		l.stdin.Close() // the script quits at the end of its input
		exited := make(chan struct{})
		go func() { <-readerDone; l.cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			l.cmd.Process.Kill()
			<-exited
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Logf("libtorrent stderr:\n%s", l.stderr.String())
	})
	line, ok := l.expect(30*time.Second, func(s string) bool { return strings.HasPrefix(s, "ready ") })
	if !ok {
		t.Fatalf("libtorrent did not get ready: last line %q", line)
	}
	fmt.Sscanf(line, "ready %d", &l.port)
	return l
}

func (l *ltNode) send(format string, args ...any) {
	l.t.Helper()
	if _, err := fmt.Fprintf(l.stdin, format+"\n", args...); err != nil {
		l.t.Fatalf("libtorrent script: %v", err)
	}
}

// expect returns the first line within d that match accepts.
func (l *ltNode) expect(d time.Duration, match func(string) bool) (string, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	last := ""
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				return last, false
			}
			l.t.Logf("libtorrent: %s", line)
			if last = line; match(line) {
				return line, true
			}
		case <-timer.C:
			return last, false
		}
	}
}

// TestLibtorrentInterop: libtorrent (Debian's python3-libtorrent) with our
// node A as its only bootstrap node, and our node B bootstrapping from A,
// all on loopback. libtorrent finds a peer B announced, and B finds a peer
// libtorrent announced.
func TestLibtorrentInterop(t *testing.T) {
	needLibtorrent(t)
	a := startNode(t, "127.0.0.1", Config{})
	lt := startLibtorrent(t, "127.0.0.2", a.Addr())
	ltAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(lt.port))
	b := startNode(t, "127.0.0.3", Config{Bootstrap: []string{a.Addr().String()}})
	interop(t, a, b, lt, ltAddr)
}

// TestLibtorrentInterop6 is TestLibtorrentInterop in the IPv6 DHT (BEP
// 32), all three nodes on ::1: nodes6, want and 18-byte values both ways.
func TestLibtorrentInterop6(t *testing.T) {
	needLibtorrent(t)
	a := startNode6(t, Config{})
	lt := startLibtorrent(t, "::1", a.Addr())
	ltAddr := netip.AddrPortFrom(netip.IPv6Loopback(), uint16(lt.port))
	b := startNode6(t, Config{Bootstrap: []string{a.Addr().String()}})
	interop(t, a, b, lt, ltAddr)
}

func needLibtorrent(t *testing.T) {
	if out, err := exec.Command(python, "-c", "import libtorrent").CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: %s cannot import libtorrent (%v: %s); install Debian's python3-libtorrent to run this interop test",
			python, err, bytes.TrimSpace(out))
	}
}

// interop runs the exchanges of the interop tests between our nodes A
// and B and libtorrent at ltAddr, which bootstraps from A.
func interop(t *testing.T, a, b *Node, lt *ltNode, ltAddr netip.AddrPort) {
	bPeer := netip.AddrPortFrom(b.Addr().Addr(), 6001).String()
	waitFor(t, 10*time.Second, "A's table holds libtorrent and B", func() bool {
		nodes := a.Nodes()
		return len(nodes) == 2 && slices.Contains(nodes, ltAddr)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	// libtorrent finds the peer our node B announces.
	ih1 := [20]byte{0x11, 0x22, 0x33}
	h1 := hex.EncodeToString(ih1[:])
	accepted, err := b.Announce(ctx, ih1, 6001, nil)
	if err != nil || accepted != 2 {
		t.Fatalf("B's announce: %d accepted (want A and libtorrent), err %v", accepted, err)
	}
	if _, ok := lt.expect(5*time.Second, func(s string) bool { return s == "incoming "+h1+" "+bPeer }); !ok {
		t.Error("libtorrent did not report our announce_peer")
	}
	found := false
	for try := 0; try < 5 && !found; try++ {
		lt.send("get_peers %s", h1)
		_, found = lt.expect(3*time.Second, func(s string) bool {
			f := strings.Fields(s)
			return len(f) > 2 && f[0] == "peers" && f[1] == h1 && slices.Contains(f[2:], bPeer)
		})
	}
	if !found {
		t.Errorf("libtorrent's dht_get_peers did not find %s", bPeer)
	}

	// Our node B finds the peer libtorrent announces.
	ih2 := [20]byte{0x44, 0x55, 0x66}
	h2 := hex.EncodeToString(ih2[:])
	lt.send("announce %s", h2)
	if _, ok := lt.expect(5*time.Second, func(s string) bool { return strings.HasPrefix(s, "announced "+h2) }); !ok {
		t.Fatal("libtorrent did not announce")
	}
	want := ltAddr // libtorrent announces its listen port, the same as its DHT port
	var got []netip.AddrPort
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		f, all := collect()
		if _, err := b.Announce(ctx, ih2, 0, f); err != nil {
			t.Fatal(err)
		}
		if got = all(); slices.Contains(got, want) {
			break
		}
	}
	if !slices.Contains(got, want) {
		t.Errorf("B's lookup found %v, want %v", got, want)
	}
	t.Logf("A: %+v; B: %+v", a.Stats(), b.Stats())
}
