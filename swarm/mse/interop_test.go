package mse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Interop with Debian's python3-libtorrent (2.0), run by testdata/lt_enc.py:
// a seed that speaks only RC4-encrypted MSE, on 127.0.0.2.

const ltPython = "/usr/bin/python3"

// ltSeed is a running lt_enc.py.
type ltSeed struct {
	addr    string   // host:port it listens on
	version string   // libtorrent's
	ih      [20]byte // the torrent's info-hash
	stdin   io.WriteCloser
	stderr  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startLT starts lt_enc.py with the given allowed_enc_level ("rc4" or
// "both") and waits until it seeds; it is stopped at cleanup.
func startLT(t *testing.T, level string) *ltSeed {
	t.Helper()
	if testing.Short() {
		t.Skip("interop with libtorrent skipped in -short mode")
	}
	check, cancelCheck := context.WithTimeout(context.Background(), 30*time.Second)
	out, err := exec.CommandContext(check, ltPython, "-c", "import libtorrent").CombinedOutput()
	cancelCheck()
	if err != nil {
		t.Skipf("SKIP: python3-libtorrent missing: apt-get install python3-libtorrent (%s -c 'import libtorrent': %v: %s)",
			ltPython, err, bytes.TrimSpace(out))
	}

	dir := t.TempDir()
	ctx, kill := context.WithTimeout(context.Background(), 100*time.Second)
	cmd := exec.CommandContext(ctx, ltPython, "testdata/lt_enc.py", dir, "--level", level)
	lt := &ltSeed{stderr: &syncBuffer{}}
	cmd.Stderr = lt.stderr
	if lt.stdin, err = cmd.StdinPipe(); err != nil {
		kill()
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		kill()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		kill()
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody listens any more
			}
		}
	}()
	t.Cleanup(func() {
		lt.stdin.Close() // the script exits at EOF
		select {
		case <-scanned:
		case <-time.After(5 * time.Second):
			kill()
			<-scanned
		}
		err := cmd.Wait()
		kill()
		if t.Failed() || err != nil {
			t.Logf("lt_enc.py (exit: %v) stderr:\n%s", err, lt.stderr.String())
		}
	})

	timeout := time.After(60 * time.Second)
	for port := ""; ; {
		select {
		case l := <-lines:
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && f[0] == "version":
				lt.version = f[1]
			case len(f) == 2 && f[0] == "port":
				port = f[1]
			case len(f) == 2 && f[0] == "infohash":
				b, err := hex.DecodeString(f[1])
				if err != nil || len(b) != 20 {
					t.Fatalf("lt_enc.py: bad line %q", l)
				}
				copy(lt.ih[:], b)
			case l == "ready":
				if _, err := strconv.Atoi(port); err != nil {
					t.Fatalf("lt_enc.py: no port before ready")
				}
				lt.addr = net.JoinHostPort("127.0.0.2", port)
				return lt
			}
		case <-scanned:
			t.Fatalf("lt_enc.py exited before it was ready; stderr:\n%s", lt.stderr.String())
		case <-timeout:
			t.Fatalf("lt_enc.py not ready after 60 s; stderr:\n%s", lt.stderr.String())
		}
	}
}

func newPeerID() [20]byte {
	var id [20]byte
	copy(id[:], "-BT0001-")
	rand.Read(id[8:])
	return id
}

// readHandshake reads a 68-byte BitTorrent handshake for ih from c.
func readHandshake(t *testing.T, c net.Conn, ih [20]byte) {
	t.Helper()
	hs := make([]byte, 68)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, hs); err != nil {
		t.Fatalf("reading libtorrent's handshake: %v", err)
	}
	if string(hs[:20]) != btProtocol || !bytes.Equal(hs[28:48], ih[:]) {
		t.Fatalf("libtorrent's handshake: %x", hs)
	}
	t.Logf("libtorrent handshake: reserved %x, peer id %q", hs[20:28], hs[48:68])
}

// readBitfield reads messages until a bitfield (id 5) and checks it has
// every one of the torrent's 7 pieces (100000 bytes in 16 KiB pieces).
func readBitfield(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range 16 {
		var l [4]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatalf("reading a message: %v", err)
		}
		n := binary.BigEndian.Uint32(l[:])
		if n == 0 {
			continue // keep-alive
		}
		if n > 1<<16 {
			t.Fatalf("message of %d bytes", n)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			t.Fatalf("reading a message: %v", err)
		}
		if msg[0] != 5 {
			t.Logf("message id %d before the bitfield", msg[0])
			continue
		}
		if !bytes.Equal(msg[1:], []byte{0xfe}) {
			t.Fatalf("bitfield %x, want fe", msg[1:])
		}
		return
	}
	t.Fatal("no bitfield in 16 messages")
}

// dialLT connects from 127.0.0.1 (libtorrent refuses peers at its own
// address).
func dialLT(t *testing.T, lt *ltSeed) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	c, err := d.Dial("tcp", lt.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ltAsResponder: we initiate, libtorrent responds. A handshake refused
// with ErrLeadingZeroSecret (libtorrent before 2.0.13, 1 in 256) is tried
// again, as a caller should.
func ltAsResponder(t *testing.T, lt *ltSeed, provide, want uint32) {
	for attempt := 1; ; attempt++ {
		c := dialLT(t, lt)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		ec, m, err := Initiate(ctx, c, lt.ih, provide, btHandshake(lt.ih, newPeerID()))
		cancel()
		if errors.Is(err, ErrLeadingZeroSecret) && attempt < 3 {
			t.Logf("attempt %d: %v; again", attempt, err)
			continue
		}
		if err != nil {
			t.Fatalf("Initiate: %v", err)
		}
		t.Logf("provide %#x: libtorrent selected %#x; handshake took %v", provide, m, time.Since(start))
		if want != 0 && m != want {
			t.Fatalf("selected %#x, want %#x", m, want)
		}
		readHandshake(t, ec, lt.ih)
		readBitfield(t, ec)
		return
	}
}

// ltAsInitiator: libtorrent connects to us; our responder runs with cfg.
func ltAsInitiator(t *testing.T, lt *ltSeed, cfg config) (provided uint32, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := fmt.Fprintf(lt.stdin, "connect %s\n", ln.Addr()); err != nil {
		t.Fatal(err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	asked := time.Now()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("libtorrent never connected: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	choose := func(p uint32) uint32 {
		provided = p
		return PreferRC4(p)
	}
	res, err := accept(ctx, c, false, oneKey(lt.ih), choose, cfg)
	if err != nil {
		return 0, err
	}
	t.Logf("libtorrent connected %v after the command; provided %#x, we selected %#x; IA %d bytes; handshake took %v",
		start.Sub(asked), provided, res.Method, res.Conn.(*streamConn).iaLen, time.Since(start))
	if !res.Encrypted || res.SKey != lt.ih {
		t.Fatalf("result %+v", res)
	}
	readHandshake(t, res.Conn, lt.ih)
	if _, err := res.Conn.Write(btHandshake(lt.ih, newPeerID())); err != nil {
		t.Fatal(err)
	}
	readBitfield(t, res.Conn)
	return provided, nil
}

func TestLibtorrentForcedRC4(t *testing.T) {
	lt := startLT(t, "rc4")
	t.Run("we initiate, rc4 offered", func(t *testing.T) { ltAsResponder(t, lt, CryptoRC4, CryptoRC4) })
	t.Run("we initiate, both offered", func(t *testing.T) { ltAsResponder(t, lt, CryptoPlain|CryptoRC4, CryptoRC4) })
	t.Run("we initiate, plain offered", func(t *testing.T) {
		c := dialLT(t, lt)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, m, err := Initiate(ctx, c, lt.ih, CryptoPlain, btHandshake(lt.ih, newPeerID()))
		if err == nil {
			t.Fatalf("libtorrent (rc4 only) selected %#x for a plaintext-only offer", m)
		}
		t.Logf("plaintext-only offer refused after %v: %v", time.Since(start), err)
	})
	t.Run("libtorrent initiates", func(t *testing.T) {
		p, err := ltAsInitiator(t, lt, defaultConfig())
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		if p != CryptoRC4 {
			t.Fatalf("libtorrent provided %#x, want rc4 only", p)
		}
	})
	// libtorrent as initiator pads S (only its responder does not).
	t.Run("libtorrent initiates, secret with a leading zero byte", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.privFor = leadingZeroPriv
		if _, err := ltAsInitiator(t, lt, cfg); err != nil {
			t.Fatalf("Accept: %v", err)
		}
	})
	t.Run("plaintext refused by libtorrent", func(t *testing.T) {
		c := dialLT(t, lt)
		if _, err := c.Write(btHandshake(lt.ih, newPeerID())); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(make([]byte, 68))
		if err == nil {
			t.Fatalf("libtorrent answered %d bytes to a plaintext handshake", n)
		}
	})
}

// With allowed_enc_level both, what libtorrent picks and offers is
// observed (logged); any valid choice passes.
func TestLibtorrentBothLevels(t *testing.T) {
	lt := startLT(t, "both")
	t.Run("we initiate, both offered", func(t *testing.T) { ltAsResponder(t, lt, CryptoPlain|CryptoRC4, 0) })
	t.Run("libtorrent initiates", func(t *testing.T) {
		p, err := ltAsInitiator(t, lt, defaultConfig())
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		t.Logf("libtorrent provided %#x", p)
	})
}

// Many handshakes in a row: every failure must be the libtorrent bug
// ErrLeadingZeroSecret names (expected: about 1 in 256).
func TestLibtorrentManyHandshakes(t *testing.T) {
	lt := startLT(t, "rc4")
	const n = 300
	failed := 0
	start := time.Now()
	for range n {
		c := dialLT(t, lt)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := Initiate(ctx, c, lt.ih, CryptoRC4, btHandshake(lt.ih, newPeerID()))
		cancel()
		c.Close()
		if err != nil {
			if !errors.Is(err, ErrLeadingZeroSecret) {
				t.Fatalf("Initiate: %v", err)
			}
			failed++
		}
	}
	t.Logf("libtorrent %s: %d handshakes in %v, %d refused for a leading zero byte in S", lt.version, n, time.Since(start), failed)
}
