package mse

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

func TestHandshakeMethods(t *testing.T) {
	skey := testKey(1)
	for _, tc := range []struct {
		name    string
		provide uint32
		choose  func(uint32) uint32
		want    uint32
	}{
		{"rc4 preferred", CryptoPlain | CryptoRC4, PreferRC4, CryptoRC4},
		{"rc4 only", CryptoRC4, PreferRC4, CryptoRC4},
		{"plain chosen", CryptoPlain | CryptoRC4, only(CryptoPlain), CryptoPlain},
		{"plain only", CryptoPlain, PreferRC4, CryptoPlain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ia := []byte("initial payload")
			out := handshake(t, ctx, skey, tc.provide, ia, oneKey(skey), tc.choose, defaultConfig(), defaultConfig())
			if out.ierr != nil || out.aerr != nil {
				t.Fatalf("initiator: %v; responder: %v", out.ierr, out.aerr)
			}
			if out.imethod != tc.want || out.res.Method != tc.want || !out.res.Encrypted || out.res.SKey != skey {
				t.Fatalf("initiator method %#x, result %+v; want %#x", out.imethod, out.res, tc.want)
			}
			// IA first, then the stream.
			got := make([]byte, len(ia))
			if _, err := io.ReadFull(out.res.Conn, got); err != nil || !bytes.Equal(got, ia) {
				t.Fatalf("IA: %q, %v", got, err)
			}
			pingPong(t, out.iconn, out.res.Conn)
		})
	}
}

// pingPong sends a message each way and checks it arrives.
func pingPong(t *testing.T, a, b net.Conn) {
	t.Helper()
	for _, dir := range []struct{ from, to net.Conn }{{a, b}, {b, a}} {
		msg := randBytes(1000)
		if _, err := dir.from.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		dir.to.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(dir.to, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("payload differs (err %v)", err)
		}
	}
}

// With plaintext selected the payload travels as is: read it from the
// underlying conn.
func TestPlainPayloadIsPlain(t *testing.T) {
	skey := testKey(2)
	a, b := tcpPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res Result
	var aerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, aerr = Accept(ctx, b, false, oneKey(skey), only(CryptoPlain))
	}()
	c, m, err := Initiate(ctx, a, skey, CryptoPlain|CryptoRC4, nil)
	<-done
	if err != nil || aerr != nil {
		t.Fatalf("initiator: %v; responder: %v", err, aerr)
	}
	if m != CryptoPlain || res.Method != CryptoPlain {
		t.Fatalf("methods %#x %#x", m, res.Method)
	}
	if p := res.Conn.(*streamConn).pending; len(p) != 0 {
		t.Fatalf("responder buffered %d payload bytes", len(p))
	}
	msg := []byte("hello in the clear")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("raw bytes %q, %v", got, err)
	}
	// And the other way, under the initiator's wrapper.
	if _, err := res.Conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("%q, %v", got, err)
	}
}

func TestIAReturnedFirst(t *testing.T) {
	skey := testKey(3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ia := btHandshake(skey, testKey(9))
	out := handshake(t, ctx, skey, CryptoRC4, ia, oneKey(skey), PreferRC4, defaultConfig(), defaultConfig())
	if out.ierr != nil || out.aerr != nil {
		t.Fatalf("initiator: %v; responder: %v", out.ierr, out.aerr)
	}
	if n := out.res.Conn.(*streamConn).iaLen; n != len(ia) {
		t.Fatalf("iaLen %d", n)
	}
	if _, err := out.iconn.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte(nil), ia...), "after"...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(out.res.Conn, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestIATooLong(t *testing.T) {
	a, _ := tcpPair(t)
	_, _, err := Initiate(context.Background(), a, testKey(1), CryptoRC4, make([]byte, MaxIA+1))
	if err == nil {
		t.Fatal("accepted an IA beyond MaxIA")
	}
}

func TestLargePayloadBothWays(t *testing.T) {
	const size = 4 << 20
	for _, m := range []uint32{CryptoRC4, CryptoPlain} {
		t.Run(map[uint32]string{CryptoRC4: "rc4", CryptoPlain: "plain"}[m], func(t *testing.T) {
			skey := testKey(4)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out := handshake(t, ctx, skey, CryptoPlain|CryptoRC4, nil, oneKey(skey), only(m), defaultConfig(), defaultConfig())
			if out.ierr != nil || out.aerr != nil {
				t.Fatalf("initiator: %v; responder: %v", out.ierr, out.aerr)
			}
			ab, ba := randBytes(size), randBytes(size)
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			send := func(c net.Conn, data []byte) {
				defer wg.Done()
				// Odd-sized writes exercise chunking and buffer reuse.
				for len(data) > 0 {
					n := min(len(data), 16397)
					if _, err := c.Write(data[:n]); err != nil {
						errs <- err
						return
					}
					data = data[n:]
				}
			}
			recv := func(c net.Conn, want []byte) {
				defer wg.Done()
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				got := make([]byte, len(want))
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, want) {
					errs <- errors.New("payload differs")
				}
			}
			wg.Add(4)
			go send(out.iconn, ab)
			go send(out.res.Conn, ba)
			go recv(out.res.Conn, ab)
			go recv(out.iconn, ba)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestUnknownSKeyRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := handshake(t, ctx, testKey(5), CryptoRC4, nil, oneKey(testKey(6)), PreferRC4, defaultConfig(), defaultConfig())
	if !errors.Is(out.aerr, ErrUnknownInfoHash) {
		t.Fatalf("responder: %v", out.aerr)
	}
	if out.ierr == nil {
		t.Fatal("initiator succeeded")
	}
}

func TestNoMethodRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	skey := testKey(7)
	never := func(uint32) uint32 { return 0 }
	out := handshake(t, ctx, skey, CryptoPlain|CryptoRC4, nil, oneKey(skey), never, defaultConfig(), defaultConfig())
	if !errors.Is(out.aerr, ErrNoMethod) || out.ierr == nil {
		t.Fatalf("responder: %v; initiator: %v", out.aerr, out.ierr)
	}
	// A choose returning a method not offered is refused too.
	out = handshake(t, ctx, skey, CryptoRC4, nil, oneKey(skey), func(uint32) uint32 { return CryptoPlain }, defaultConfig(), defaultConfig())
	if out.aerr == nil || out.ierr == nil {
		t.Fatalf("responder: %v; initiator: %v", out.aerr, out.ierr)
	}
}

func TestPlaintextHandshake(t *testing.T) {
	hs := btHandshake(testKey(8), testKey(10))
	for _, allow := range []bool{true, false} {
		a, b := tcpPair(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Send the handshake and more: everything read must be replayed.
		sent := append(append([]byte(nil), hs...), 0, 0, 0, 0)
		if _, err := a.Write(sent); err != nil {
			t.Fatal(err)
		}
		res, err := Accept(ctx, b, allow, oneKey(testKey(8)), PreferRC4)
		if !allow {
			if !errors.Is(err, ErrPlaintextRefused) {
				t.Fatalf("allowPlain false: %v", err)
			}
			continue
		}
		if err != nil || res.Encrypted {
			t.Fatalf("%+v, %v", res, err)
		}
		got := make([]byte, len(sent))
		if _, err := io.ReadFull(res.Conn, got); err != nil || !bytes.Equal(got, sent) {
			t.Fatalf("replayed %q, %v", got, err)
		}
		if res.Conn.LocalAddr().String() != b.LocalAddr().String() || res.Conn.RemoteAddr().String() != b.RemoteAddr().String() {
			t.Fatal("addresses not forwarded")
		}
		if nc, ok := res.Conn.(interface{ NetConn() net.Conn }); !ok || nc.NetConn() != b {
			t.Fatal("NetConn does not return the underlying conn")
		}
	}
}

// The detection must not wait for more than 20 bytes, nor for more than one
// when the first byte is not 19.
func TestDetectionReadsNoMoreThanNeeded(t *testing.T) {
	for _, first := range [][]byte{[]byte(btProtocol), {19, 'B', 'X'}} {
		a, b := tcpPair(t)
		cc := &countConn{Conn: b}
		if _, err := a.Write(first); err != nil {
			t.Fatal(err)
		}
		s := newSession(context.Background(), cc, "responder", responderCap)
		plain, err := s.detectPlain()
		s.abort()
		if err != nil {
			t.Fatal(err)
		}
		if plain != (len(first) == 20) || int(cc.n.Load()) != len(first) {
			t.Fatalf("plain %v after %d bytes", plain, cc.n.Load())
		}
	}
}

func TestCancelUnblocks(t *testing.T) {
	a, _ := tcpPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := Initiate(ctx, a, testKey(1), CryptoRC4, nil)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
}

func TestDeadlineClearedOnSuccess(t *testing.T) {
	skey := testKey(11)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	out := handshake(t, ctx, skey, CryptoRC4, nil, oneKey(skey), PreferRC4, defaultConfig(), defaultConfig())
	if out.ierr != nil || out.aerr != nil {
		t.Fatalf("initiator: %v; responder: %v", out.ierr, out.aerr)
	}
	cancel()
	time.Sleep(400 * time.Millisecond) // past the old deadline
	pingPong(t, out.iconn, out.res.Conn)
}
