package tracker_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/tracker"
)

func compact(addrs ...string) []byte {
	var b []byte
	for _, a := range addrs {
		ap := netip.MustParseAddrPort(a)
		b = append(b, ap.Addr().AsSlice()...)
		b = binary.BigEndian.AppendUint16(b, ap.Port())
	}
	return b
}

func udpRequest(u string) tracker.Request {
	return tracker.Request{
		URL: u, InfoHash: id20("udp-infohash-bbbbbbb"), PeerID: id20("-BT0001-udp-peer-id!"),
		Port: 51413, Uploaded: 1 << 40, Downloaded: 12345, Left: 678, NumWant: 50, Key: 0xdeadbeef,
	}
}

func fastClient() *tracker.Client {
	return &tracker.Client{UDPTimeout: 50 * time.Millisecond, UDPRetries: 4}
}

func TestUDPAnnounce(t *testing.T) {
	f := newFakeUDP(t, "udp4", "127.0.0.1:0", func(f *fakeUDP) {
		f.interval = 120
		f.peers = compact("127.0.0.2:6881", "127.0.0.3:80", "127.0.0.2:6881", "127.0.0.4:0", "0.0.0.0:5")
	})
	c := fastClient()
	tests := []struct {
		ev      tracker.Event
		wire    uint32
		numWant int
		wantNW  uint32
	}{
		{tracker.EventNone, 0, 50, 50},
		{tracker.EventCompleted, 1, 0, 0},
		{tracker.EventStarted, 2, -1, 0xffffffff},
		{tracker.EventStopped, 3, 1 << 40, 0x7fffffff},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("event ", tt.wire), func(t *testing.T) {
			req := udpRequest(f.url)
			req.Event, req.NumWant = tt.ev, tt.numWant
			resp, err := c.Announce(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			want := &tracker.Response{
				Interval: 2 * time.Minute, Incomplete: 3, Complete: 4,
				Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.2:6881"), netip.MustParseAddrPort("127.0.0.3:80")},
			}
			if resp.Interval != want.Interval || resp.Incomplete != 3 || resp.Complete != 4 || !slices.Equal(resp.Peers, want.Peers) {
				t.Fatalf("got %+v, want %+v", resp, want)
			}
			p := f.lastAnnounce()
			if len(p) != 98 {
				t.Fatalf("announce is %d bytes, want 98", len(p))
			}
			be := binary.BigEndian
			ih, pid := req.InfoHash, req.PeerID
			if !bytes.Equal(p[16:36], ih[:]) || !bytes.Equal(p[36:56], pid[:]) ||
				be.Uint64(p[56:]) != 12345 || be.Uint64(p[64:]) != 678 || be.Uint64(p[72:]) != 1<<40 ||
				be.Uint32(p[80:]) != tt.wire || be.Uint32(p[84:]) != 0 || be.Uint32(p[88:]) != 0xdeadbeef ||
				be.Uint32(p[92:]) != tt.wantNW || be.Uint16(p[96:]) != 51413 {
				t.Fatalf("announce fields wrong: %x", p)
			}
		})
	}
}

func TestUDPConnIDReuse(t *testing.T) {
	f := newFakeUDP(t, "udp4", "127.0.0.1:0", nil)
	c := &tracker.Client{UDPTimeout: 50 * time.Millisecond, UDPConnTTL: 300 * time.Millisecond}
	for range 3 {
		if _, err := c.Announce(t.Context(), udpRequest(f.url)); err != nil {
			t.Fatal(err)
		}
	}
	if _, connects, announces := f.counts(); connects != 1 || announces != 3 {
		t.Fatalf("connects=%d announces=%d, want 1 and 3", connects, announces)
	}
	first := binary.BigEndian.Uint64(f.lastAnnounce())

	time.Sleep(350 * time.Millisecond) // past UDPConnTTL
	if _, err := c.Announce(t.Context(), udpRequest(f.url)); err != nil {
		t.Fatal(err)
	}
	if _, connects, _ := f.counts(); connects != 2 {
		t.Fatalf("connects=%d after the TTL, want 2", connects)
	}
	if binary.BigEndian.Uint64(f.lastAnnounce()) == first {
		t.Fatal("expired connection id reused")
	}
}

// TestUDPStaleConnID: a tracker that forgot our id drops the announce; the
// client reconnects on the first timeout instead of retransmitting.
func TestUDPStaleConnID(t *testing.T) {
	f := newFakeUDP(t, "udp4", "127.0.0.1:0", nil)
	c := fastClient()
	if _, err := c.Announce(t.Context(), udpRequest(f.url)); err != nil {
		t.Fatal(err)
	}
	f.forget()
	if _, err := c.Announce(t.Context(), udpRequest(f.url)); err != nil {
		t.Fatal(err)
	}
	if received, connects, announces := f.counts(); received != 5 || connects != 2 || announces != 2 {
		t.Fatalf("received=%d connects=%d announces=%d, want 5, 2, 2", received, connects, announces)
	}
}

func TestUDPRetransmit(t *testing.T) {
	for _, drops := range []int{1, 2, 4} {
		f := newFakeUDP(t, "udp4", "127.0.0.1:0", func(f *fakeUDP) {
			f.peers = compact("127.0.0.9:9")
			// Drop the first datagrams: connects, then perhaps announces.
			f.hook = func(n int, pkt []byte) ([][]byte, bool) { return nil, n < drops }
		})
		start := time.Now()
		resp, err := fastClient().Announce(t.Context(), udpRequest(f.url))
		if err != nil {
			t.Fatalf("%d drops: %v", drops, err)
		}
		if len(resp.Peers) != 1 {
			t.Fatalf("%d drops: peers %v", drops, resp.Peers)
		}
		// Waits were 50 ms·2^n for n < drops.
		if min := 50 * time.Millisecond * (1<<drops - 1); time.Since(start) < min {
			t.Fatalf("%d drops: done in %v, before the timeouts (%v)", drops, time.Since(start), min)
		}
	}
}

func TestUDPBlackHole(t *testing.T) {
	f := newFakeUDP(t, "udp4", "127.0.0.1:0", func(f *fakeUDP) { f.hook = dropAll })

	t.Run("retries", func(t *testing.T) {
		c := &tracker.Client{UDPTimeout: 10 * time.Millisecond, UDPRetries: 3}
		start := time.Now()
		_, err := c.Announce(t.Context(), udpRequest(f.url))
		took := time.Since(start)
		if err == nil || !strings.HasPrefix(err.Error(), "tracker "+f.url+": ") || !strings.Contains(err.Error(), "no answer after 4 tries") {
			t.Fatalf("err = %v", err)
		}
		// 10+20+40+80 ms.
		if took < 150*time.Millisecond || took > 2*time.Second {
			t.Fatalf("gave up after %v", took)
		}
	})
	t.Run("ctx", func(t *testing.T) {
		c := &tracker.Client{UDPTimeout: 50 * time.Millisecond} // 8 retries: 25 s
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Announce(ctx, udpRequest(f.url))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "tracker "+f.url+": ") {
			t.Fatalf("err = %v", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("returned after %v", took)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := (&tracker.Client{}).Announce(ctx, udpRequest(f.url))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("returned after %v", took)
		}
	})
}

// TestUDPPortUnreachable: nobody listens, the ICMP error ends the announce
// at once.
func TestUDPPortUnreachable(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	u := "udp://" + conn.LocalAddr().String()
	conn.Close()
	start := time.Now()
	_, err = (&tracker.Client{}).Announce(t.Context(), udpRequest(u))
	if err == nil || !strings.HasPrefix(err.Error(), "tracker "+u+": ") {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v", took)
	}
}

// TestUDPIgnoresStrays: datagrams that do not answer the pending request
// are skipped, and the real answer is still taken.
func TestUDPIgnoresStrays(t *testing.T) {
	f := newFakeUDP(t, "udp4", "127.0.0.1:0", func(f *fakeUDP) {
		f.peers = compact("127.0.0.7:7")
		f.hook = func(n int, pkt []byte) ([][]byte, bool) {
			other := slices.Clone(pkt)
			other[15] ^= 0xff // another transaction id
			huge := reply(1, other, make([]byte, 60000)...)
			return [][]byte{
				{},
				{1, 2, 3},
				reply(1, pkt)[:7],           // too short to carry a transaction id
				reply(1, other, 0, 0, 0, 9), // wrong transaction id
				reply(3, other, []byte("spoofed")...),
				reply(2, pkt, 0, 0, 0, 0), // scrape: wrong action
				huge,
			}, false
		}
	})
	resp, err := fastClient().Announce(t.Context(), udpRequest(f.url))
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.7:7")}; !slices.Equal(resp.Peers, want) {
		t.Fatalf("peers %v, want %v", resp.Peers, want)
	}
	if received, connects, announces := f.counts(); received != 2 || connects != 1 || announces != 1 {
		t.Fatalf("received=%d connects=%d announces=%d: strays caused retransmissions", received, connects, announces)
	}
}

func TestUDPErrorAction(t *testing.T) {
	f := newFakeUDP(t, "udp4", "127.0.0.1:0", func(f *fakeUDP) {
		f.hook = func(n int, pkt []byte) ([][]byte, bool) {
			if isAnnounce(pkt) && n == 1 {
				return [][]byte{reply(3, pkt, []byte("torrent not registered")...)}, true
			}
			return nil, false
		}
	})
	c := fastClient()
	_, err := c.Announce(t.Context(), udpRequest(f.url))
	var fe *tracker.FailureError
	if !errors.As(err, &fe) || fe.Reason != "torrent not registered" || !strings.HasPrefix(err.Error(), "tracker "+f.url+": ") {
		t.Fatalf("err = %v, want a FailureError", err)
	}
	// The error may mean our id is stale: the next announce reconnects.
	if _, err := c.Announce(t.Context(), udpRequest(f.url)); err != nil {
		t.Fatal(err)
	}
	if _, connects, _ := f.counts(); connects != 2 {
		t.Fatalf("connects = %d, want 2", connects)
	}

	t.Run("on connect", func(t *testing.T) {
		g := newFakeUDP(t, "udp4", "127.0.0.1:0", func(f *fakeUDP) {
			f.hook = func(n int, pkt []byte) ([][]byte, bool) {
				return [][]byte{reply(3, pkt, []byte("\xffgo away")...)}, true
			}
		})
		_, err := fastClient().Announce(t.Context(), udpRequest(g.url))
		if !errors.As(err, &fe) || fe.Reason != "\uFFFDgo away" {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestUDPMalformed: an answer to our transaction that is cut short or
// misaligned is an error, not a panic or a partial result.
func TestUDPMalformed(t *testing.T) {
	tests := []struct {
		name  string
		reply func(pkt []byte) []byte // answers the first announce
		want  string
	}{
		{"short announce", func(pkt []byte) []byte { return reply(1, pkt, 0, 0, 0, 1) }, "announce response is 12 bytes"},
		{"misaligned peers", func(pkt []byte) []byte { return reply(1, pkt, make([]byte, 12+7)...) }, "announce response is 27 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeUDP(t, "udp4", "127.0.0.1:0", func(f *fakeUDP) {
				f.hook = func(n int, pkt []byte) ([][]byte, bool) {
					if isAnnounce(pkt) {
						return [][]byte{tt.reply(pkt)}, true
					}
					return nil, false
				}
			})
			_, err := fastClient().Announce(t.Context(), udpRequest(f.url))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("short connect", func(t *testing.T) {
		f := newFakeUDP(t, "udp4", "127.0.0.1:0", func(f *fakeUDP) {
			f.hook = func(n int, pkt []byte) ([][]byte, bool) {
				return [][]byte{reply(0, pkt, 1, 2, 3, 4)}, true
			}
		})
		_, err := fastClient().Announce(t.Context(), udpRequest(f.url))
		if err == nil || !strings.Contains(err.Error(), "connect response is 12 bytes") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestUDPIPv6(t *testing.T) {
	ln, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("SKIPPED: cannot bind [::1] for the IPv6 UDP tracker test: %v", err)
	}
	ln.Close()
	f := newFakeUDP(t, "udp6", "[::1]:0", func(f *fakeUDP) {
		f.peers = compact("[::1]:6881", "[::ffff:127.0.0.1]:80", "[::1]:6881")
	})
	resp, err := fastClient().Announce(t.Context(), udpRequest(f.url))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("[::1]:6881"), netip.MustParseAddrPort("127.0.0.1:80")}
	if !slices.Equal(resp.Peers, want) {
		t.Fatalf("peers %v, want %v", resp.Peers, want)
	}
}
