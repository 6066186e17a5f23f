package utp

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func FuzzPacket(f *testing.F) {
	f.Add(packet(header{typ: stSyn, connID: 7, seq: 1}, nil))
	f.Add(packet(header{typ: stState, connID: 8, seq: 2, ack: 3, sack: []byte{1, 2, 3, 4}}, nil))
	f.Add(packet(header{typ: stData, connID: 8, seq: 2, ack: 3, wnd: 1 << 20}, []byte("payload")))
	f.Add([]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"))
	f.Add([]byte{0x21, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := parsePacket(b)
		if IsUTP(b) != (err == nil) {
			t.Fatal("IsUTP disagrees with parsePacket")
		}
		if err != nil {
			return
		}
		if len(b) < headerLen || len(payload) > len(b)-headerLen {
			t.Fatalf("payload of %d bytes from a %d-byte packet", len(payload), len(b))
		}
		// Re-encoding keeps the fields, the selective ack and the payload
		// (unknown extensions are dropped).
		again := append(appendHeader(nil, &h), payload...)
		h2, payload2, err := parsePacket(again)
		if err != nil {
			t.Fatalf("re-encoded packet does not parse: %v", err)
		}
		if !bytes.Equal(h.sack, h2.sack) || !bytes.Equal(payload, payload2) {
			t.Fatal("selective ack or payload changed in a round trip")
		}
		if h.typ != h2.typ || h.connID != h2.connID || h.ts != h2.ts || h.tsDiff != h2.tsDiff ||
			h.wnd != h2.wnd || h.seq != h2.seq || h.ack != h2.ack {
			t.Fatalf("header changed in a round trip: %v != %v", &h, &h2)
		}
	})
}

// discardConn is a PacketConn that drops what is written to it.
type discardConn struct {
	mu     sync.Mutex // guards writes
	writes int
}

func (d *discardConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, net.ErrClosed }
func (d *discardConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	d.mu.Lock()
	d.writes++
	d.mu.Unlock()
	return len(b), nil
}
func (d *discardConn) Close() error                     { return nil }
func (d *discardConn) LocalAddr() net.Addr              { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (d *discardConn) SetDeadline(time.Time) error      { return nil }
func (d *discardConn) SetReadDeadline(time.Time) error  { return nil }
func (d *discardConn) SetWriteDeadline(time.Time) error { return nil }

// newBareSocket returns a Socket whose Mux runs no goroutines: the test
// calls handlePacket, tick and flushAcks itself.
func newBareSocket(cfg Config) *Socket {
	cfg = cfg.withDefaults()
	m := &Mux{pc: &discardConn{}, cfg: cfg, log: cfg.Logger, closing: make(chan struct{})}
	m.sock = newSocket(m)
	return m.sock
}

// FuzzSocket feeds arbitrary packets from one peer address to a Socket with
// an accepted connection that has data in flight and a dialed connection
// waiting for its SYN's ack. Control bytes steer packets at the
// connections so that the fuzzer reaches deep states.
func FuzzSocket(f *testing.F) {
	f.Add([]byte{0x05, 20, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x0d, 24, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 'd'})
	f.Add([]byte{0x06, 20, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0})
	f.Add([]byte{0x05, 26, 0x21, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0xfe, 0xff, 0xff, 0xff})
	f.Add([]byte{0x09, 21, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20})
	f.Fuzz(func(t *testing.T, data []byte) {
		const backlog = 4
		s := newBareSocket(Config{RecvBuffer: 64 << 10, AcceptBacklog: backlog})
		defer s.shutdown()
		peer := netip.MustParseAddrPort("10.1.2.3:6881")
		now := time.Unix(1_000_000, 0)
		feed := func(b []byte) {
			buf := s.getBuf(len(b))
			copy(*buf, b)
			if !s.handlePacket(buf, len(b), peer, now) {
				s.putBuf(buf)
			}
		}
		feed(packet(header{typ: stSyn, connID: 1000, seq: 500, ts: 1}, nil))
		s.mu.Lock()
		if len(s.acceptQ) != 1 {
			s.mu.Unlock()
			t.Fatal("SYN not accepted")
		}
		in := s.acceptQ[0]
		s.mu.Unlock()
		in.accepted.Store(true)
		if _, err := in.Write(make([]byte, 20_000)); err != nil {
			t.Fatal(err)
		}
		out, err := s.newOutgoing(peer, now)
		if err != nil {
			t.Fatal(err)
		}

		for len(data) >= 2 {
			ctl, n := data[0], int(data[1])
			data = data[2:]
			n = min(n, len(data))
			pkt := append([]byte(nil), data[:n]...)
			data = data[n:]
			var c *Conn
			switch {
			case ctl&1 != 0:
				c = in
			case ctl&2 != 0:
				c = out
			}
			if c != nil && len(pkt) >= headerLen {
				c.mu.Lock()
				binary.BigEndian.PutUint16(pkt[2:], c.recvID)
				if ctl&4 != 0 { // a plausible ack
					binary.BigEndian.PutUint16(pkt[18:], c.seqNr-1-uint16(pkt[18]%8))
				}
				if ctl&8 != 0 { // a plausible sequence number
					binary.BigEndian.PutUint16(pkt[16:], c.ackNr+1+uint16(pkt[16]%8))
				}
				c.mu.Unlock()
			}
			feed(pkt)
			s.flushAcks(now)
			if ctl&0x10 != 0 {
				now = now.Add(700 * time.Millisecond)
				in.tick(now)
				out.tick(now)
			}
			if ctl&0x20 != 0 {
				in.SetReadDeadline(time.Unix(1, 0)) // already passed: Read does not block
				in.Read(make([]byte, 3000))
			}
			if ctl&0x40 != 0 {
				in.Close()
			}
		}
		// one dialed, and a backlog that nobody accepts from (but the first)
		if n := s.numConns(); n > 1+backlog+1 {
			t.Fatalf("%d connections tracked", n)
		}
	})
}
