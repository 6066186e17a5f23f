package peerconn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/time/rate"

	"github.com/btfs/btfs/swarm/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// blocks serves piece i's bytes as the byte i repeated; pieces >= have are
// missing.
type blocks struct{ have int }

func (b blocks) ReadBlock(piece, begin int, p []byte) (bool, error) {
	if piece >= b.have {
		return false, nil
	}
	for i := range p {
		p[i] = byte(piece)
	}
	return true, nil
}

// harness is a Conn on one end of a TCP loopback connection, its loops
// running, and the raw other end.
type harness struct {
	c      *Conn
	peer   net.Conn
	r      *wire.Reader
	events chan Event
	wg     sync.WaitGroup
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	ours, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	theirs := <-accepted
	h := &harness{peer: theirs, r: wire.NewReader(bufio.NewReader(theirs), wire.Limits{}), events: make(chan Event, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Deliver = func(ev Event) bool {
		select {
		case h.events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	h.c = New(ctx, ours, cfg)
	h.wg.Go(h.c.ReadLoop)
	h.wg.Go(h.c.WriteLoop)
	t.Cleanup(func() {
		cancel()
		theirs.Close()
		h.wg.Wait()
	})
	return h
}

func (h *harness) read(t *testing.T) wire.Message {
	t.Helper()
	_ = h.peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		m, err := h.r.Read()
		if err != nil {
			t.Fatalf("peer read: %v", err)
		}
		if !m.KeepAlive {
			m.Payload = append([]byte(nil), m.Payload...)
			return m
		}
	}
}

func (h *harness) send(t *testing.T, m wire.Message) {
	t.Helper()
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.peer.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestSendServeCancel(t *testing.T) {
	var mu sync.Mutex
	served := []int{}
	h := newHarness(t, Config{Blocks: blocks{have: 2}, Fast: true, OnServed: func(n int) {
		mu.Lock()
		served = append(served, n)
		mu.Unlock()
	}})
	h.c.Send(wire.Message{ID: wire.Unchoke})
	if m := h.read(t); m.ID != wire.Unchoke {
		t.Fatalf("got %v, want unchoke", m.ID)
	}
	h.c.Serve(wire.Message{Index: 1, Begin: 0, Length: 100})
	m := h.read(t)
	if m.ID != wire.Piece || m.Index != 1 || !bytes.Equal(m.Payload, bytes.Repeat([]byte{1}, 100)) {
		t.Fatalf("served %v %d %d bytes", m.ID, m.Index, len(m.Payload))
	}
	h.c.Serve(wire.Message{Index: 5, Begin: 0, Length: 100}) // not held: rejected
	if m := h.read(t); m.ID != wire.Reject || m.Index != 5 {
		t.Fatalf("got %v for a missing block, want reject", m.ID)
	}
	if h.c.Uploaded() != 100 || h.c.Queued() != 0 {
		t.Errorf("uploaded %d queued %d", h.c.Uploaded(), h.c.Queued())
	}
	mu.Lock()
	if len(served) != 2 || served[0] != 100 || served[1] != 0 {
		t.Errorf("OnServed calls %v, want [100 0]", served)
	}
	mu.Unlock()
	// A message from the peer reaches the owner.
	h.send(t, wire.Message{ID: wire.Have, Index: 7})
	if ev := <-h.events; ev.Err != nil || ev.Msg.ID != wire.Have || ev.Msg.Index != 7 {
		t.Fatalf("event %+v", ev)
	}
}

func TestCancelAndDropServes(t *testing.T) {
	// No loops: the queue is inspected as the owner sees it.
	c := New(context.Background(), nopConn{}, Config{Deliver: func(Event) bool { return false }})
	defer c.Close()
	for i := range 4 {
		c.Serve(wire.Message{Index: uint32(i), Length: 10})
	}
	if !c.Cancel(1, 0, 10) || c.Cancel(1, 0, 10) || c.Queued() != 3 {
		t.Fatalf("cancel: queued %d", c.Queued())
	}
	dropped := c.DropServes(func(m wire.Message) bool { return m.Index == 3 })
	if len(dropped) != 2 || c.Queued() != 1 {
		t.Fatalf("dropped %v, queued %d", dropped, c.Queued())
	}
}

// TestUploadLimitOutlastsWriteTimeout: a rate-limited batch of blocks that
// takes several times the write timeout is sent whole; the deadline covers
// each write, not the limiter's wait.
func TestUploadLimitOutlastsWriteTimeout(t *testing.T) {
	const n, size = 6, 16 * 1024
	lim := rate.NewLimiter(rate.Limit(4*size), size) // 4 blocks/s: ~1.25 s for 6
	h := newHarness(t, Config{Blocks: blocks{have: 1}, Up: lim, WriteTimeout: 300 * time.Millisecond})
	for range n {
		h.c.Serve(wire.Message{Index: 0, Length: size})
	}
	start := time.Now()
	for range n {
		if m := h.read(t); m.ID != wire.Piece {
			t.Fatalf("got %v", m.ID)
		}
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("6 blocks at 4 blocks/s took %v: the limit did not hold", d)
	}
	select {
	case ev := <-h.events:
		t.Fatalf("connection ended: %v", ev.Err)
	default:
	}
}

func TestOutboxFull(t *testing.T) {
	h := newHarness(t, Config{MaxOutbox: 4})
	// The peer never reads; a burst larger than the outbox ends the
	// connection with ErrOutboxFull, however the writer interleaves.
	big := wire.Message{ID: wire.Extended, ExtID: 1, Payload: make([]byte, 512*1024)}
	for range 64 {
		h.c.Send(big)
	}
	select {
	case ev := <-h.events:
		if !errors.Is(ev.Err, ErrOutboxFull) {
			t.Fatalf("connection ended with %v, want ErrOutboxFull", ev.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a peer that does not read was not dropped")
	}
}

func TestReadIdle(t *testing.T) {
	h := newHarness(t, Config{ReadIdle: 200 * time.Millisecond, KeepAlive: time.Hour})
	select {
	case ev := <-h.events:
		if ev.Err == nil {
			t.Fatalf("got %+v, want an idle error", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an idle peer was not dropped")
	}
}

// nopConn is a net.Conn that does nothing.
type nopConn struct{ net.Conn }

func (nopConn) Close() error { return nil }

// TestIdleConnectionCloses: a peer that sends nothing but keep-alives is
// disconnected once IdleClose has passed without a real message.
func TestIdleConnectionCloses(t *testing.T) {
	h := newHarness(t, Config{IdleClose: 300 * time.Millisecond})
	h.send(t, wire.Message{ID: wire.Interested}) // a real message first
	if ev := <-h.events; ev.Err != nil || ev.Msg.ID != wire.Interested {
		t.Fatalf("first event %+v", ev)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-h.events:
			if !errors.Is(ev.Err, ErrIdle) {
				t.Fatalf("event %+v, want ErrIdle", ev)
			}
			return
		case <-tick.C:
			_, _ = h.peer.Write([]byte{0, 0, 0, 0}) // keep-alive
		case <-deadline:
			t.Fatal("a connection with only keep-alives was not closed")
		}
	}
}

// floodUntilClosed writes msg repeatedly (up to max times) while counting
// the events delivered, and returns how many were delivered before the
// connection ended with ErrFlood.
func floodUntilClosed(t *testing.T, h *harness, msgs []wire.Message, max int) int {
	t.Helper()
	var buf []byte
	for _, m := range msgs {
		buf, _ = m.AppendBinary(buf)
	}
	go func() {
		for range max / len(msgs) {
			if _, err := h.peer.Write(buf); err != nil {
				return
			}
		}
	}()
	delivered := 0
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-h.events:
			if ev.Err != nil {
				if !errors.Is(ev.Err, ErrFlood) {
					t.Fatalf("connection ended with %v, want ErrFlood", ev.Err)
				}
				return delivered
			}
			delivered++
		case <-deadline:
			t.Fatalf("a flood of %v was not stopped (%d delivered)", msgs[0].ID, delivered)
		}
	}
}

// TestKeepAliveFloodCloses: keep-alives at line rate end the connection
// after a small burst instead of burning a core.
func TestKeepAliveFloodCloses(t *testing.T) {
	h := newHarness(t, Config{})
	floodUntilClosed(t, h, []wire.Message{{KeepAlive: true}}, 1_000_000)
}

// TestChokeFlappingCloses: a peer flipping choke/unchoke as fast as it can
// is dropped after a bounded number of messages.
func TestChokeFlappingCloses(t *testing.T) {
	h := newHarness(t, Config{})
	n := floodUntilClosed(t, h, []wire.Message{{ID: wire.Choke}, {ID: wire.Unchoke}}, 1_000_000)
	if n > controlBurst+controlPerSec*10 {
		t.Fatalf("%d choke/unchoke delivered before the connection was closed", n)
	}
}

// TestBusyButHonestIsNotAFlood: what a real client sends when a
// connection starts and then downloads (bitfield, allowed-fast set,
// extended handshake, thousands of haves and requests, a few keep-alives)
// passes untouched.
func TestBusyButHonestIsNotAFlood(t *testing.T) {
	h := newHarness(t, Config{})
	var msgs []wire.Message
	msgs = append(msgs, wire.Message{ID: wire.Bitfield, Payload: make([]byte, 128)},
		wire.Message{ID: wire.Extended, Payload: []byte("\x00d1:md11:ut_metadatai1eee")},
		wire.Message{ID: wire.Interested}, wire.Message{ID: wire.Unchoke})
	for i := range 10 {
		msgs = append(msgs, wire.Message{ID: wire.AllowedFast, Index: uint32(i)})
	}
	for i := range 1000 {
		msgs = append(msgs, wire.Message{ID: wire.Have, Index: uint32(i)},
			wire.Message{ID: wire.Request, Index: uint32(i), Length: 16384},
			wire.Message{ID: wire.Cancel, Index: uint32(i), Length: 16384})
	}
	for range keepAliveBurst {
		msgs = append(msgs, wire.Message{KeepAlive: true})
	}
	msgs = append(msgs, wire.Message{ID: wire.NotInterested})
	go func() {
		var buf []byte
		for _, m := range msgs {
			buf, _ = m.AppendBinary(buf)
		}
		_, _ = h.peer.Write(buf)
	}()
	want := len(msgs) - keepAliveBurst
	for got := 0; got < want; got++ {
		select {
		case ev := <-h.events:
			if ev.Err != nil {
				t.Fatalf("after %d of %d messages: %v", got, want, ev.Err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d messages delivered", got, want)
		}
	}
}
