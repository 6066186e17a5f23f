package utp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

func TestDialAccept(t *testing.T) {
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("server read %q, %v; want ping", buf[:n], err)
	}
	if _, err := server.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err = client.Read(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("client read %q, %v; want pong", buf[:n], err)
	}
	if got, want := server.RemoteAddr().String(), a.pc.LocalAddr().String(); got != want {
		t.Errorf("server's RemoteAddr = %s, want %s", got, want)
	}
}

// The acceptor speaks first: nothing arrives from the dialer after its SYN.
func TestServerSpeaksFirst(t *testing.T) {
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	data := randomBytes(100_000, 7)
	transfer(t, server, client, data, 10*time.Second)
}

func TestTransferBothWays(t *testing.T) {
	const size = 16 << 20
	for _, tc := range []struct {
		name string
		a, b Config
	}{
		{"offload", Config{}, Config{}},
		{"no offload", Config{NoOffload: true}, Config{NoOffload: true}},
		{"mixed", Config{}, Config{NoOffload: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newMux(t, nil, tc.a), newMux(t, nil, tc.b)
			client, server := connect(t, a, b)
			up, down := randomBytes(size, 1), randomBytes(size, 2)
			var wg sync.WaitGroup
			wg.Add(2)
			start := time.Now()
			go func() {
				defer wg.Done()
				transfer(t, client, server, up, 40*time.Second)
			}()
			go func() {
				defer wg.Done()
				transfer(t, server, client, down, 40*time.Second)
			}()
			wg.Wait()
			t.Logf("2 x %d MiB in %v", size>>20, time.Since(start))
		})
	}
}

func TestManySmallWrites(t *testing.T) {
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	src := randomBytes(300_000, 3)
	var want bytes.Buffer
	done := make(chan error, 1)
	go func() {
		for i, off := 0, 0; off < len(src); i++ {
			n := min(1+i%97, len(src)-off)
			if _, err := client.Write(src[off : off+n]); err != nil {
				done <- err
				return
			}
			off += n
		}
		done <- client.Close()
	}()
	want.Write(src)
	server.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %d bytes, want %d; first difference at %d", len(got), want.Len(), firstDiff(got, want.Bytes()))
	}
}

func TestCloseEOF(t *testing.T) {
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	if _, err := client.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := client.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Close took %v", d)
	}
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "last words" {
		t.Fatalf("read %q, %v; want the data then EOF", got, err)
	}
	n, err := server.Read(make([]byte, 1))
	if n != 0 || err != io.EOF {
		t.Fatalf("read after EOF: %d, %v", n, err)
	}
	// The closed side refuses reads and writes.
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v, want net.ErrClosed", err)
	}
	if _, err := client.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v, want net.ErrClosed", err)
	}
	if err := client.Close(); err == nil {
		t.Error("second close: no error")
	}
	// The half-closed side can still write; then it closes too and both
	// connections leave the tables.
	if _, err := server.Write([]byte("ignored")); err != nil {
		t.Errorf("write after peer's FIN: %v", err)
	}
	server.Close()
	waitFor(t, 5*time.Second, "both connections to be dropped", func() bool {
		return a.sock.numConns() == 0 && b.sock.numConns() == 0
	})
}

// Close unblocks a Read and a Write that wait.
func TestCloseUnblocks(t *testing.T) {
	t.Parallel()
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{SendBuffer: 64 << 10})
	client, server := connect(t, a, b)
	_ = client
	errc := make(chan error, 2)
	go func() {
		_, err := server.Read(make([]byte, 10))
		errc <- err
	}()
	go func() {
		// fills the peer's window and our buffer; nobody reads the client
		_, err := server.Write(make([]byte, 8<<20))
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	server.Close()
	for range 2 {
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("got %v, want net.ErrClosed", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Close did not unblock")
		}
	}
}

func TestReadDeadline(t *testing.T) {
	t.Parallel()
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	server.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	_, err := server.Read(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read error %v is not a net.Error timeout", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > 2*time.Second {
		t.Errorf("deadline fired after %v", d)
	}
	// A past deadline fails at once; a cleared one lets data through.
	if _, err := server.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second read: %v", err)
	}
	server.SetReadDeadline(time.Time{})
	go client.Write([]byte("late"))
	buf := make([]byte, 10)
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "late" {
		t.Fatalf("read after clearing deadline: %q, %v", buf[:n], err)
	}
	// Extending a deadline while a Read waits keeps it waiting.
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	go func() {
		time.Sleep(10 * time.Millisecond)
		server.SetReadDeadline(time.Now().Add(time.Hour))
		time.Sleep(150 * time.Millisecond)
		client.Write([]byte("x"))
	}()
	if _, err := server.Read(buf); err != nil {
		t.Fatalf("read with extended deadline: %v", err)
	}
}

func TestWriteDeadline(t *testing.T) {
	t.Parallel()
	a, b := newMux(t, nil, Config{SendBuffer: 64 << 10}), newMux(t, nil, Config{RecvBuffer: 64 << 10})
	client, _ := connect(t, a, b)
	client.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := client.Write(make([]byte, 1<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write: %d, %v; want a deadline error", n, err)
	}
	if n < 64<<10 || n >= 1<<20 {
		t.Errorf("wrote %d bytes before the deadline", n)
	}
}

func TestDialNoListener(t *testing.T) {
	t.Parallel()
	a := newMux(t, nil, Config{})
	pc := listenUDP(t)
	dead := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := a.Socket().Dial(ctx, dead)
	if err == nil {
		c.Close()
		t.Fatal("dial succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("dial error %v, want the context's", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("dial failed after %v", d)
	}
	waitFor(t, time.Second, "the half-open conn to be dropped", func() bool { return a.sock.numConns() == 0 })
}

// A peer that does not run uTP at all: its socket is open but ignores us.
// Without a context deadline Dial uses Config.DialTimeout.
func TestDialTimeoutDefault(t *testing.T) {
	t.Parallel()
	a := newMux(t, nil, Config{DialTimeout: 1500 * time.Millisecond})
	silent := listenUDP(t)
	defer silent.Close()
	start := time.Now()
	_, err := a.Socket().Dial(context.Background(), silent.LocalAddr().(*net.UDPAddr).AddrPort())
	if err == nil {
		t.Fatal("dial succeeded")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("dial error %v is not a timeout", err)
	}
	if d := time.Since(start); d < 1400*time.Millisecond || d > 3*time.Second {
		t.Errorf("dial gave up after %v", d)
	}
	// We sent the SYN twice (at 0 and after 1 s).
	silent.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	syns := 0
	buf := make([]byte, 100)
	for {
		n, _, err := silent.ReadFrom(buf)
		if err != nil {
			break
		}
		if h, _, err := parsePacket(buf[:n]); err == nil && h.typ == stSyn {
			syns++
		}
	}
	if syns < 2 {
		t.Errorf("saw %d SYNs, want at least 2", syns)
	}
}

func TestSocketClose(t *testing.T) {
	t.Parallel()
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	errc := make(chan error, 1)
	go func() {
		_, err := b.Socket().Accept()
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	b.Socket().Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
	// established connections survive
	transfer(t, client, server, []byte("still here"), 5*time.Second)
	// new dials are not answered
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if c, err := a.Socket().Dial(ctx, addrOf(b)); err == nil {
		c.Close()
		t.Fatal("dial to a closed socket succeeded")
	}
}

func TestMuxClose(t *testing.T) {
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	errc := make(chan error, 1)
	go func() {
		_, err := client.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := a.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Errorf("read on a closed mux: %v", err)
	}
	if _, err := a.Socket().Dial(context.Background(), addrOf(b)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("dial on a closed mux: %v", err)
	}
	if _, err := a.Socket().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("accept on a closed mux: %v", err)
	}
	_ = server
}

func TestMuxOther(t *testing.T) {
	m := newMux(t, nil, Config{})
	peer := listenUDP(t)
	defer peer.Close()
	dht := []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")
	if IsUTP(dht) {
		t.Fatal("a DHT message passes IsUTP")
	}
	if _, err := peer.WriteTo(dht, m.pc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	other := m.Other()
	other.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := other.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(buf[:n], dht) {
		t.Errorf("got %q, want %q", buf[:n], dht)
	}
	if from.String() != peer.LocalAddr().String() {
		t.Errorf("from %s, want %s", from, peer.LocalAddr())
	}
	reply := []byte("d1:rd2:id20:mnopqrstuvwxyz012345e1:t2:aa1:y1:re")
	if _, err := other.WriteTo(reply, from); err != nil {
		t.Fatalf("write: %v", err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err = peer.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], reply) {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	if other.LocalAddr().String() != m.pc.LocalAddr().String() {
		t.Errorf("LocalAddr %s", other.LocalAddr())
	}
	// deadline
	other.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := other.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read with deadline: %v", err)
	}
	// Close closes only the view: uTP keeps working.
	errc := make(chan error, 1)
	other.SetReadDeadline(time.Time{})
	go func() {
		_, _, err := other.ReadFrom(buf)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	other.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	b := newMux(t, nil, Config{})
	client, server := connect(t, b, m)
	transfer(t, client, server, []byte("after other closed"), 5*time.Second)
}

// The queue for non-uTP packets is bounded.
func TestMuxOtherQueueBounded(t *testing.T) {
	m := newMux(t, nil, Config{OtherQueue: 4})
	peer := listenUDP(t)
	defer peer.Close()
	for i := range 50 {
		peer.WriteTo([]byte{'d', byte(i), 'e'}, m.pc.LocalAddr())
	}
	waitFor(t, 2*time.Second, "drops", func() bool { return m.oth.Dropped() >= 40 })
	if len(m.oth.q) > 4 {
		t.Errorf("queue holds %d", len(m.oth.q))
	}
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A dual-stack socket sees IPv4 peers as IPv4-mapped IPv6 addresses; they
// must match the IPv4 address dialed, both ways.
func TestDualStack(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no dual-stack socket: %v", err)
	}
	dual := newMux(t, pc, Config{})
	v4 := newMux(t, nil, Config{})
	port := pc.LocalAddr().(*net.UDPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// IPv4 peer dials the dual-stack socket
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := dual.Socket().Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c1, err := v4.Socket().Dial(ctx, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))
	if err != nil {
		t.Fatalf("dial the dual-stack socket: %v", err)
	}
	defer c1.Close()
	s1 := <-accepted
	defer s1.Close()
	transfer(t, c1, s1, randomBytes(1<<20, 12), 10*time.Second)

	// the dual-stack socket dials an IPv4 peer, by its IPv4-mapped address
	go func() {
		c, err := v4.Socket().Accept()
		if err == nil {
			accepted <- c
		}
	}()
	mapped := netip.AddrPortFrom(netip.AddrFrom16(addrOf(v4).Addr().As16()), addrOf(v4).Port())
	c2, err := dual.Socket().Dial(ctx, mapped)
	if err != nil {
		t.Fatalf("dial from the dual-stack socket: %v", err)
	}
	defer c2.Close()
	s2 := <-accepted
	defer s2.Close()
	transfer(t, c2, s2, randomBytes(1<<20, 13), 10*time.Second)
}

func TestIPv6(t *testing.T) {
	pa, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	pb, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		pa.Close()
		t.Skipf("no IPv6 loopback: %v", err)
	}
	a, b := newMux(t, pa, Config{}), newMux(t, pb, Config{})
	client, server := connect(t, a, b)
	transfer(t, client, server, randomBytes(4<<20, 14), 10*time.Second)
}

// A peer that vanishes without a word is detected by the idle timeout.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	a, b := newMux(t, nil, Config{IdleTimeout: time.Second, KeepAlive: 300 * time.Millisecond}), newMux(t, nil, Config{})
	client, _ := connect(t, a, b)
	// keep-alives are answered: the connection outlives its idle timeout
	time.Sleep(1500 * time.Millisecond)
	if n := a.sock.numConns(); n != 1 {
		t.Fatalf("%d connections after 1.5 s of keep-alives", n)
	}
	b.Close() // no FIN, no reset: the peer is just gone
	start := time.Now()
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := client.Read(make([]byte, 1))
	if !errors.Is(err, ErrTimedOut) {
		t.Fatalf("read: %v, want ErrTimedOut", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("detected after %v", d)
	}
	if n := a.sock.numConns(); n != 0 {
		t.Errorf("%d connections left", n)
	}
}

func TestReset(t *testing.T) {
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	if _, err := server.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	server.(*Conn).abort(errors.New("test abort")) // sends ST_RESET
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if string(got) != "before" || !errors.Is(err, ErrReset) {
		t.Fatalf("read %q, %v; want the data, then ErrReset", got, err)
	}
	if _, err := client.Write([]byte("x")); !errors.Is(err, ErrReset) {
		t.Errorf("write after reset: %v", err)
	}
}

// Close does not wait for a peer that has gone away; the connection gives
// up within CloseTimeout.
func TestCloseDeadPeer(t *testing.T) {
	t.Parallel()
	a, b := newMux(t, nil, Config{CloseTimeout: 700 * time.Millisecond}), newMux(t, nil, Config{})
	client, _ := connect(t, a, b)
	b.Close()
	if _, err := client.Write(make([]byte, 100_000)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	client.Close()
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("Close took %v", d)
	}
	waitFor(t, 2*time.Second, "the closed connection to give up", func() bool { return a.sock.numConns() == 0 })
	t.Logf("gave up after %v", time.Since(start))
}
