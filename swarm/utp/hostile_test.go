package utp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func packet(h header, payload []byte) []byte {
	return append(appendHeader(nil, &h), payload...)
}

// A flood of SYNs with distinct connection ids from one address leaves the
// number of tracked connections under the cap, and a legitimate dial works
// afterwards.
func TestSynFlood(t *testing.T) {
	const maxConns, backlog = 40, 8
	server := newMux(t, nil, Config{MaxConns: maxConns, AcceptBacklog: backlog})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a server that accepts and hangs up, like one that finds no handshake
		defer wg.Done()
		for {
			c, err := server.Socket().Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer wg.Wait()
	defer server.Socket().Close()

	var peak atomic.Int64
	stop := make(chan struct{})
	var mon sync.WaitGroup
	mon.Add(1)
	go func() {
		defer mon.Done()
		for {
			if n := int64(server.sock.numConns()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()

	flooder := listenUDP(t)
	defer flooder.Close()
	to := server.pc.LocalAddr()
	for i := range 5000 {
		p := packet(header{typ: stSyn, connID: uint16(i), seq: uint16(i * 7), ts: 1}, nil)
		if _, err := flooder.WriteTo(p, to); err != nil {
			t.Fatal(err)
		}
		if i%200 == 0 {
			time.Sleep(time.Millisecond) // let the socket buffer drain a little
		}
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	mon.Wait()
	if p := peak.Load(); p > maxConns {
		t.Errorf("tracked %d connections, cap %d", p, maxConns)
	}
	t.Logf("peak tracked connections %d (cap %d); now %d", peak.Load(), maxConns, server.sock.numConns())

	// The legitimate peer gets through, once a SYN retransmission lands.
	client := newMux(t, nil, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Accepts go to the loop above, which closes them; talk to it anyway:
	// the connection must establish and then see our data acknowledged.
	c, err := client.Socket().Dial(ctx, addrOf(server))
	if err != nil {
		t.Fatalf("dial after the flood: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, errEvicted) {
		t.Fatalf("read: %v, want the server's EOF", err)
	}
}

// With nobody accepting, the backlog bounds the state.
func TestSynFloodNoAccept(t *testing.T) {
	t.Parallel()
	server := newMux(t, nil, Config{MaxConns: 100, AcceptBacklog: 16})
	flooder := listenUDP(t)
	defer flooder.Close()
	for i := range 2000 {
		flooder.WriteTo(packet(header{typ: stSyn, connID: uint16(i)}, nil), server.pc.LocalAddr())
	}
	time.Sleep(100 * time.Millisecond)
	if n := server.sock.numConns(); n > 16 || n == 0 {
		t.Errorf("%d connections tracked, want 1..16", n)
	}
}

// Acks for data never sent, selective acks for anything, out-of-window
// data and resets for unknown connections, all from the right address,
// do not disturb a transfer. They are interleaved with the writes.
func TestBogusAcks(t *testing.T) {
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	cc, sc := client.(*Conn), server.(*Conn)
	data := randomBytes(4<<20, 9)
	rng := rand.New(rand.NewPCG(1, 2))
	allOnes := make([]byte, 32)
	for i := range allOnes {
		allOnes[i] = 0xff
	}
	inject := func() {
		cc.mu.Lock()
		next := cc.seqNr
		cc.mu.Unlock()
		sc.mu.Lock()
		expect, sseq := sc.ackNr+1, sc.seqNr
		sc.mu.Unlock()
		// to the sender, from the receiver's socket: acks beyond what was sent
		bogus := header{typ: stState, connID: cc.recvID, ack: next + 1 + uint16(rng.IntN(30000)), wnd: 1 << 30,
			sack: allOnes, ts: rng.Uint32(), tsDiff: rng.Uint32()}
		b.pc.WriteTo(packet(bogus, nil), a.pc.LocalAddr())
		// to the receiver, from the sender's socket: data far ahead
		far := header{typ: stData, connID: sc.recvID, seq: expect + 5000 + uint16(rng.IntN(20000)), ack: sseq - 1}
		a.pc.WriteTo(packet(far, []byte("junk")), b.pc.LocalAddr())
		// a reset for a connection that does not exist
		rst := header{typ: stReset, connID: cc.recvID + 7, ack: next - 1}
		b.pc.WriteTo(packet(rst, nil), a.pc.LocalAddr())
	}
	werr := make(chan error, 1)
	go func() {
		for off := 0; off < len(data); off += 64 << 10 {
			for range 20 {
				inject()
			}
			if _, err := client.Write(data[off : off+64<<10]); err != nil {
				werr <- err
				return
			}
		}
		werr <- client.(*Conn).CloseWrite()
	}()
	server.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d; first difference at %d", len(got), len(data), firstDiff(got, data))
	}
	if st := cc.Stats(); st.Cwnd > 8<<20 || st.PeerWindow > 1<<20 {
		t.Errorf("bogus acks inflated the windows: %+v", st)
	}
}

// Random datagrams, some shaped like uTP headers, from the peer's address
// and from elsewhere, never break a transfer (nor panic).
func TestGarbage(t *testing.T) {
	a, b := newMux(t, nil, Config{}), newMux(t, nil, Config{})
	client, server := connect(t, a, b)
	cc := client.(*Conn)
	stranger := listenUDP(t)
	defer stranger.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(3, 4))
		buf := make([]byte, 1500)
		for {
			select {
			case <-done:
				return
			default:
			}
			n := rng.IntN(len(buf))
			for i := range n {
				buf[i] = byte(rng.Uint32())
			}
			if n >= 20 && rng.IntN(2) == 0 {
				buf[0] = byte(rng.IntN(5))<<4 | 1
				buf[1] = byte(rng.IntN(3))
				id := uint16(rng.Uint32())
				if id == cc.recvID || id == cc.sendID || id == cc.recvID-1 || id == cc.sendID+1 {
					id += 3 // the right id with a RESET or FIN would legitimately end the connection
				}
				binary.BigEndian.PutUint16(buf[2:], id)
			}
			if rng.IntN(2) == 0 {
				b.pc.WriteTo(buf[:n], a.pc.LocalAddr())
			} else {
				stranger.WriteTo(buf[:n], a.pc.LocalAddr())
			}
			time.Sleep(20 * time.Microsecond)
		}
	}()
	transfer(t, client, server, randomBytes(2<<20, 10), 30*time.Second)
	close(done)
	wg.Wait()
}

// Resets answering packets for unknown connections are rate limited.
func TestResetRate(t *testing.T) {
	t.Parallel()
	m := newMux(t, nil, Config{ResetRate: 10})
	peer := listenUDP(t)
	defer peer.Close()
	for i := range 500 {
		peer.WriteTo(packet(header{typ: stData, connID: uint16(i)}, []byte("x")), m.pc.LocalAddr())
	}
	resets := 0
	peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 100)
	for {
		n, _, err := peer.ReadFrom(buf)
		if err != nil {
			break
		}
		if h, _, err := parsePacket(buf[:n]); err == nil && h.typ == stReset {
			resets++
		}
	}
	if resets == 0 || resets > 15 {
		t.Errorf("%d resets for 500 packets, want 1..15", resets)
	}
}
