package mse

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tcpPair returns both ends of a loopback TCP connection, closed at cleanup.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	client, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		client.Close()
		t.Fatal(r.err)
	}
	t.Cleanup(func() { client.Close(); r.c.Close() })
	return client, r.c
}

func testKey(b byte) [20]byte {
	var k [20]byte
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// oneKey is an skeys function knowing just k.
func oneKey(k [20]byte) func([20]byte) ([20]byte, bool) {
	want := Req2(k)
	return func(req2 [20]byte) ([20]byte, bool) {
		if req2 == want {
			return k, true
		}
		return [20]byte{}, false
	}
}

func only(m uint32) func(uint32) uint32 {
	return func(provided uint32) uint32 {
		if provided&m != 0 {
			return m
		}
		return 0
	}
}

// btHandshake builds a 68-byte plaintext BitTorrent handshake.
func btHandshake(ih [20]byte, peerID [20]byte) []byte {
	b := append([]byte(btProtocol), make([]byte, 8)...)
	b = append(b, ih[:]...)
	return append(b, peerID[:]...)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

type handshakeOut struct {
	iconn   net.Conn
	imethod uint32
	ierr    error
	res     Result
	aerr    error
}

// handshake runs Initiate and Accept against each other over loopback TCP.
func handshake(t testing.TB, ctx context.Context, skey [20]byte, provide uint32, ia []byte,
	skeys func([20]byte) ([20]byte, bool), choose func(uint32) uint32, icfg, acfg config) handshakeOut {
	t.Helper()
	a, b := tcpPair(t)
	var out handshakeOut
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out.res, out.aerr = accept(ctx, b, false, skeys, choose, acfg)
		if out.aerr != nil {
			b.Close() // the caller's duty on error: unblocks the initiator
		}
	}()
	out.iconn, out.imethod, out.ierr = initiate(ctx, a, skey, provide, ia, icfg)
	if out.ierr != nil {
		a.Close()
	}
	wg.Wait()
	return out
}

// countConn counts the bytes read through it.
type countConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
