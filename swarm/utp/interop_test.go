package utp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Interop with a real uTP implementation: libtorrent 2.0, driven by
// testdata/lt_utp.py, which seeds a generated torrent over uTP only. The
// tests speak the plaintext BitTorrent protocol over our connections.

const (
	ltPython    = "/usr/bin/python3"
	ltPieceSize = 32 * 1024 // as in lt_utp.py
	ltBlock     = 16 * 1024
)

type ltSeed struct {
	addr     netip.AddrPort
	infoHash []byte
	data     []byte
	// a torrent libtorrent downloads from whoever offers it
	infoHash2 []byte
	data2     []byte
	stdin     io.Writer
	events    <-chan string // the helper's output after "ready"
}

// lockedBuffer collects the helper's stderr for failure reports.
type lockedBuffer struct {
	mu sync.Mutex // guards b between the process's copier and the test
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startLibtorrent(t *testing.T) *ltSeed {
	t.Helper()
	if out, err := exec.Command(ltPython, "-c", "import libtorrent").CombinedOutput(); err != nil {
		t.Skipf("SKIP: python3-libtorrent missing: apt-get install python3-libtorrent (%v: %s)", err, bytes.TrimSpace(out))
	}
	cmd := exec.Command(ltPython, "testdata/lt_utp.py", t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", ltPython, err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		stdin.Close() // asks the helper to exit, after its last alerts
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("libtorrent helper's stderr:\n%s", stderr.String())
		}
	})

	lines := make(chan string)
	go func() {
		defer close(exited)
		defer cmd.Wait()
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	seed := &ltSeed{stdin: stdin}
	timeout := time.After(30 * time.Second)
	for ready := false; !ready; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("libtorrent helper exited early:\n%s", stderr.String())
			}
			key, val, _ := strings.Cut(line, " ")
			switch key {
			case "port":
				p, err := strconv.Atoi(val)
				if err != nil {
					t.Fatalf("bad port line %q", line)
				}
				seed.addr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(p))
			case "infohash":
				if seed.infoHash, err = hex.DecodeString(val); err != nil || len(seed.infoHash) != 20 {
					t.Fatalf("bad infohash line %q", line)
				}
			case "data":
				if seed.data, err = os.ReadFile(val); err != nil {
					t.Fatal(err)
				}
			case "infohash2":
				if seed.infoHash2, err = hex.DecodeString(val); err != nil || len(seed.infoHash2) != 20 {
					t.Fatalf("bad infohash2 line %q", line)
				}
			case "data2":
				if seed.data2, err = os.ReadFile(val); err != nil {
					t.Fatal(err)
				}
			case "ready":
				ready = true
			}
		case <-timeout:
			t.Fatalf("libtorrent helper did not start:\n%s", stderr.String())
		}
	}
	events := make(chan string, 16)
	seed.events = events
	go func() { // keep draining so the helper never blocks on stdout
		for line := range lines {
			select {
			case events <- line:
			default:
			}
		}
	}()
	if !seed.addr.IsValid() || seed.infoHash == nil || seed.data == nil || seed.infoHash2 == nil || seed.data2 == nil {
		t.Fatal("libtorrent helper's announcement is incomplete")
	}
	return seed
}

func handshakeBytes(infoHash []byte, peerID string) []byte {
	b := []byte{19}
	b = append(b, "BitTorrent protocol"...)
	b = append(b, make([]byte, 8)...)
	b = append(b, infoHash...)
	return append(b, peerID...)
}

func readHandshake(t *testing.T, c net.Conn, infoHash []byte) {
	t.Helper()
	hs := make([]byte, 68)
	if _, err := io.ReadFull(c, hs); err != nil {
		t.Fatalf("read handshake: %v", err)
	}
	if hs[0] != 19 || string(hs[1:20]) != "BitTorrent protocol" {
		t.Fatalf("bad handshake %x", hs)
	}
	if !bytes.Equal(hs[28:48], infoHash) {
		t.Fatalf("handshake for info-hash %x, want %x", hs[28:48], infoHash)
	}
	t.Logf("libtorrent's peer id: %q, reserved %x", hs[48:68], hs[20:28])
}

type btMsg struct {
	id      byte
	payload []byte
}

func readMsg(c net.Conn) (btMsg, error) {
	var n [4]byte
	for {
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return btMsg{}, err
		}
		size := binary.BigEndian.Uint32(n[:])
		if size == 0 {
			continue // keep-alive
		}
		if size > 1<<20 {
			return btMsg{}, fmt.Errorf("message of %d bytes", size)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(c, b); err != nil {
			return btMsg{}, err
		}
		return btMsg{id: b[0], payload: b[1:]}, nil
	}
}

func writeMsg(c net.Conn, id byte, payload ...uint32) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+4*len(payload)))
	b = append(b, id)
	for _, v := range payload {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	_, err := c.Write(b)
	return err
}

// downloadBlocks runs the peer protocol after the handshakes: waits for the
// bitfield, declares interest, waits for the unchoke and checks the blocks
// it requests against the seeded data.
func downloadBlocks(t *testing.T, c net.Conn, seed *ltSeed) {
	t.Helper()
	pieces := (len(seed.data) + ltPieceSize - 1) / ltPieceSize
	for {
		m, err := readMsg(c)
		if err != nil {
			t.Fatalf("waiting for the bitfield: %v", err)
		}
		if m.id != 5 {
			t.Logf("message %d before the bitfield", m.id)
			continue
		}
		for i := range pieces {
			if m.payload[i/8]&(0x80>>(i%8)) == 0 {
				t.Fatalf("bitfield %x lacks piece %d", m.payload, i)
			}
		}
		break
	}
	if err := writeMsg(c, 2); err != nil { // interested
		t.Fatalf("write interested: %v", err)
	}
	for {
		m, err := readMsg(c)
		if err != nil {
			t.Fatalf("waiting for unchoke: %v", err)
		}
		if m.id == 1 {
			break
		}
	}
	// Request every block of the torrent at once.
	type req struct{ index, begin, length int }
	var reqs []req
	for off := 0; off < len(seed.data); off += ltBlock {
		reqs = append(reqs, req{off / ltPieceSize, off % ltPieceSize, min(ltBlock, len(seed.data)-off)})
	}
	start := time.Now()
	go func() {
		for _, r := range reqs {
			if err := writeMsg(c, 6, uint32(r.index), uint32(r.begin), uint32(r.length)); err != nil {
				return // the reader below fails
			}
		}
	}()
	seen := make(map[int]bool)
	for len(seen) < len(reqs) {
		m, err := readMsg(c)
		if err != nil {
			t.Fatalf("waiting for blocks (%d of %d in): %v", len(seen), len(reqs), err)
		}
		if m.id != 7 {
			continue
		}
		if len(m.payload) < 8 {
			t.Fatalf("short piece message")
		}
		index := int(binary.BigEndian.Uint32(m.payload))
		begin := int(binary.BigEndian.Uint32(m.payload[4:]))
		block := m.payload[8:]
		off := index*ltPieceSize + begin
		if off+len(block) > len(seed.data) || !bytes.Equal(block, seed.data[off:off+len(block)]) {
			t.Fatalf("block %d/%d (%d bytes) differs from the seeded data", index, begin, len(block))
		}
		seen[off] = true
	}
	d := time.Since(start)
	t.Logf("downloaded %d bytes in %d blocks from libtorrent in %v (%.1f MB/s)", len(seed.data), len(reqs), d, float64(len(seed.data))/d.Seconds()/1e6)
}

// Our Socket dials libtorrent.
func TestInteropDialLibtorrent(t *testing.T) {
	seed := startLibtorrent(t)
	m := newMux(t, nil, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := m.Socket().Dial(ctx, seed.addr)
	if err != nil {
		t.Fatalf("dial libtorrent at %v: %v", seed.addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(handshakeBytes(seed.infoHash, "-GO0001-utp-dialer-1")); err != nil {
		t.Fatalf("write handshake: %v", err)
	}
	readHandshake(t, c, seed.infoHash)
	downloadBlocks(t, c, seed)
}

// libtorrent dials our Socket.
func TestInteropLibtorrentDials(t *testing.T) {
	seed := startLibtorrent(t)
	m := newMux(t, nil, Config{})
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := m.Socket().Accept()
		accepted <- result{c, err}
	}()
	if _, err := fmt.Fprintf(seed.stdin, "connect %s\n", addrOf(m)); err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	select {
	case r := <-accepted:
		if r.err != nil {
			t.Fatalf("accept: %v", r.err)
		}
		c = r.c
	case <-time.After(20 * time.Second):
		m.Socket().Close()
		t.Fatal("libtorrent did not connect within 20 s")
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	readHandshake(t, c, seed.infoHash)
	if _, err := c.Write(handshakeBytes(seed.infoHash, "-GO0001-utp-accept-1")); err != nil {
		t.Fatalf("write handshake: %v", err)
	}
	downloadBlocks(t, c, seed)
}

// Our Socket dials libtorrent and uploads a whole torrent to it: our send
// path, congestion control and window handling against a real receiver.
func TestInteropUploadToLibtorrent(t *testing.T) {
	seed := startLibtorrent(t)
	m := newMux(t, nil, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := m.Socket().Dial(ctx, seed.addr)
	if err != nil {
		t.Fatalf("dial libtorrent at %v: %v", seed.addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(handshakeBytes(seed.infoHash2, "-GO0001-utp-upload-1")); err != nil {
		t.Fatalf("write handshake: %v", err)
	}
	readHandshake(t, c, seed.infoHash2)

	pieces := (len(seed.data2) + ltPieceSize - 1) / ltPieceSize
	bitfield := make([]byte, (pieces+7)/8)
	for i := range pieces {
		bitfield[i/8] |= 0x80 >> (i % 8)
	}
	msg := binary.BigEndian.AppendUint32(nil, uint32(1+len(bitfield)))
	msg = append(msg, 5)
	msg = append(msg, bitfield...)
	msg = append(msg, 0, 0, 0, 1, 1) // unchoke
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write bitfield: %v", err)
	}
	// Serve requests until libtorrent hangs up: it does once it has
	// everything, as a seed does with a seed.
	start := time.Now()
	served := 0
	for {
		m, err := readMsg(c)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after serving %d blocks: %v", served, err)
		}
		switch m.id {
		case 6: // request
			if len(m.payload) != 12 {
				t.Fatalf("request of %d bytes", len(m.payload))
			}
			index := int(binary.BigEndian.Uint32(m.payload))
			begin := int(binary.BigEndian.Uint32(m.payload[4:]))
			length := int(binary.BigEndian.Uint32(m.payload[8:]))
			off := index*ltPieceSize + begin
			if length > ltBlock || off+length > len(seed.data2) {
				t.Fatalf("bad request %d/%d/%d", index, begin, length)
			}
			out := binary.BigEndian.AppendUint32(nil, uint32(9+length))
			out = append(out, 7)
			out = binary.BigEndian.AppendUint32(out, uint32(index))
			out = binary.BigEndian.AppendUint32(out, uint32(begin))
			out = append(out, seed.data2[off:off+length]...)
			if _, err := c.Write(out); err != nil {
				t.Fatalf("write piece: %v", err)
			}
			served++
		}
	}
	d := time.Since(start)
	select {
	case ev := <-seed.events:
		if ev != "finished2" {
			t.Fatalf("libtorrent helper said %q, want finished2", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("libtorrent did not finish the torrent after %d blocks", served)
	}
	st := c.(*Conn).Stats()
	t.Logf("libtorrent downloaded and verified %d pieces (%d bytes) in %v (%.1f MB/s); %+v",
		pieces, len(seed.data2), d, float64(len(seed.data2))/d.Seconds()/1e6, st)
}

// Our keep-alives make libtorrent answer an idle connection, so a short
// idle timeout does not end it.
func TestInteropKeepAlive(t *testing.T) {
	t.Parallel()
	seed := startLibtorrent(t)
	m := newMux(t, nil, Config{KeepAlive: 200 * time.Millisecond, IdleTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := m.Socket().Dial(ctx, seed.addr)
	if err != nil {
		t.Fatalf("dial libtorrent at %v: %v", seed.addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(handshakeBytes(seed.infoHash, "-GO0001-utp-keepalv1")); err != nil {
		t.Fatalf("write handshake: %v", err)
	}
	readHandshake(t, c, seed.infoHash)
	time.Sleep(200 * time.Millisecond) // its bitfield arrives
	before := c.(*Conn).Stats().PacketsReceived
	time.Sleep(2500 * time.Millisecond)
	after := c.(*Conn).Stats().PacketsReceived
	if after-before < 3 {
		t.Errorf("libtorrent sent %d packets in 2.5 s of keep-alives", after-before)
	}
	downloadBlocks(t, c, seed)
}
