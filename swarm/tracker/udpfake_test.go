package tracker_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// fakeUDP is a BEP 15 tracker for tests. It answers connects with fresh
// connection ids and announces carrying a known id with a fixed peer
// list; announces with an unknown id are dropped silently, as a restarted
// tracker would. A hook can drop datagrams or send extra ones first.
type fakeUDP struct {
	conn *net.UDPConn
	url  string

	// Set before traffic starts (by the option of newFakeUDP).
	peers    []byte // compact peers returned by every announce
	interval uint32
	// hook sees the n-th received datagram (from 0); it returns datagrams
	// to send back first and whether to skip the standard answer.
	hook func(n int, pkt []byte) (extra [][]byte, drop bool)

	// mu guards the fields below between serve and the test goroutine.
	mu        sync.Mutex
	received  int
	connects  int
	announces [][]byte // every accepted announce request
	ids       map[uint64]bool
	done      chan struct{}
}

const udpMagic = 0x41727101980

func newFakeUDP(t *testing.T, network, addr string, opt func(*fakeUDP)) *fakeUDP {
	t.Helper()
	la, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP(network, la)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeUDP{
		conn: conn, url: "udp://" + conn.LocalAddr().String() + "/announce",
		interval: 1800, ids: make(map[uint64]bool), done: make(chan struct{}),
	}
	if opt != nil {
		opt(f)
	}
	go f.serve()
	t.Cleanup(func() {
		conn.Close()
		<-f.done
	})
	return f
}

func (f *fakeUDP) serve() {
	defer close(f.done)
	buf := make([]byte, 65536)
	for {
		n, from, err := f.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		pkt := buf[:n]
		f.mu.Lock()
		i := f.received
		f.received++
		f.mu.Unlock()
		var extra [][]byte
		drop := false
		if f.hook != nil {
			extra, drop = f.hook(i, pkt)
		}
		for _, e := range extra {
			f.conn.WriteToUDPAddrPort(e, from)
		}
		if drop {
			continue
		}
		if reply := f.answer(pkt); reply != nil {
			f.conn.WriteToUDPAddrPort(reply, from)
		}
	}
}

// answer returns the standard reply to pkt, or nil to stay silent.
func (f *fakeUDP) answer(pkt []byte) []byte {
	if len(pkt) < 16 {
		return nil
	}
	connID := binary.BigEndian.Uint64(pkt[0:8])
	action := binary.BigEndian.Uint32(pkt[8:12])
	tid := pkt[12:16]
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case action == 0 && connID == udpMagic:
		f.connects++
		id := rand.Uint64()
		f.ids[id] = true
		b := binary.BigEndian.AppendUint32(nil, 0)
		b = append(b, tid...)
		return binary.BigEndian.AppendUint64(b, id)
	case action == 1 && len(pkt) >= 98 && f.ids[connID]:
		f.announces = append(f.announces, append([]byte(nil), pkt...))
		b := binary.BigEndian.AppendUint32(nil, 1)
		b = append(b, tid...)
		b = binary.BigEndian.AppendUint32(b, f.interval)
		b = binary.BigEndian.AppendUint32(b, 3) // leechers
		b = binary.BigEndian.AppendUint32(b, 4) // seeders
		return append(b, f.peers...)
	}
	return nil
}

func (f *fakeUDP) counts() (received, connects, announces int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received, f.connects, len(f.announces)
}

func (f *fakeUDP) lastAnnounce() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.announces) == 0 {
		return nil
	}
	return f.announces[len(f.announces)-1]
}

// forget drops every connection id issued so far.
func (f *fakeUDP) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.ids)
}

// reply builds a datagram with the given action and transaction id of
// request pkt, followed by body.
func reply(action uint32, pkt []byte, body ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, action)
	b = append(b, pkt[12:16]...)
	return append(b, body...)
}

func isAnnounce(pkt []byte) bool {
	return len(pkt) >= 12 && binary.BigEndian.Uint32(pkt[8:12]) == 1
}

// dropAll makes a black hole.
func dropAll(int, []byte) ([][]byte, bool) { return nil, true }
