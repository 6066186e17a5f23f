package tracker_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/tracker"
)

// lockedBuffer collects a child's output while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex // between exec's copying goroutine and the test
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

// freePorts returns a TCP and a UDP port on 127.0.0.1 that were free a
// moment ago.
func freePorts(t *testing.T) (tcp, udp int) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return ln.Addr().(*net.TCPAddr).Port, pc.LocalAddr().(*net.UDPAddr).Port
}

// startOpentracker runs the Debian opentracker (a whitelist-only build) on
// 127.0.0.1 with infoHash whitelisted and returns its HTTP and UDP
// announce URLs.
func startOpentracker(t *testing.T, infoHash [20]byte) (httpURL, udpURL string) {
	t.Helper()
	bin, err := exec.LookPath("opentracker")
	if err != nil {
		t.Skip("SKIPPED: opentracker is not installed (apt-get install -y opentracker); the real-tracker test did not run")
	}
	// opentracker chroots into dir and drops to nobody: the dir and the
	// whitelist must be readable by anyone, and the whitelist path is
	// relative to the dir.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "whitelist"), []byte(hex.EncodeToString(infoHash[:])+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tcpPort, udpPort := freePorts(t)
	cmd := exec.Command(bin, "-i", "127.0.0.1", "-p", strconv.Itoa(tcpPort), "-P", strconv.Itoa(udpPort),
		"-d", dir, "-w", "whitelist")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start opentracker: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("opentracker output:\n%s", out.String())
		}
	})

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort))
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("opentracker exited: %v\n%s", err, out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("opentracker not listening on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Listening is not ready: opentracker loads its whitelist after it
	// binds, and refuses the hash until then. Probe with a "stopped"
	// announce, which adds no peer.
	httpURL = "http://" + addr + "/announce"
	probe := &tracker.Client{}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := probe.Announce(t.Context(), tracker.Request{URL: httpURL, InfoHash: infoHash, PeerID: id20("probe"), Port: 1, Event: tracker.EventStopped, NumWant: 0})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("opentracker never accepted the whitelisted hash: %v\n%s", err, out.String())
		}
	}
	return httpURL, "udp://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(udpPort)) + "/announce"
}

// TestOpentracker announces two peers for the same torrent to a real
// opentracker over HTTP and over UDP; each must see the other, and not
// after it stopped.
func TestOpentracker(t *testing.T) {
	ih := id20("opentracker-torrent!")
	httpURL, udpURL := startOpentracker(t, ih)
	c := &tracker.Client{UDPTimeout: 500 * time.Millisecond, UDPRetries: 3}

	for i, u := range []string{httpURL, udpURL} {
		scheme, _, _ := strings.Cut(u, ":")
		t.Run(scheme, func(t *testing.T) {
			portA, portB := uint16(7001+10*i), uint16(7002+10*i)
			a := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), portA)
			b := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), portB)
			ann := func(peer string, port uint16, ev tracker.Event) *tracker.Response {
				t.Helper()
				resp, err := c.Announce(t.Context(), tracker.Request{
					URL: u, InfoHash: ih, PeerID: id20(peer + "-" + scheme), Port: port,
					Left: 1000, Event: ev, NumWant: 50, Key: uint32(port),
				})
				if err != nil {
					t.Fatalf("announce %s: %v", peer, err)
				}
				if resp.Interval <= 0 {
					t.Fatalf("interval %v", resp.Interval)
				}
				return resp
			}
			ann("peer-a", portA, tracker.EventStarted)
			if r := ann("peer-b", portB, tracker.EventStarted); !slices.Contains(r.Peers, a) {
				t.Fatalf("b sees %v, want %v among them", r.Peers, a)
			}
			if r := ann("peer-a", portA, tracker.EventNone); !slices.Contains(r.Peers, b) {
				t.Fatalf("a sees %v, want %v among them", r.Peers, b)
			}
			ann("peer-b", portB, tracker.EventStopped)
			if r := ann("peer-a", portA, tracker.EventNone); slices.Contains(r.Peers, b) {
				t.Fatalf("a still sees stopped b: %v", r.Peers)
			}
		})
	}

	t.Run("not whitelisted", func(t *testing.T) {
		req := tracker.Request{InfoHash: id20("some-other-torrent!!"), PeerID: id20("peer-c"), Port: 7100, NumWant: 5}
		req.URL = httpURL
		_, err := c.Announce(t.Context(), req)
		if fe := (*tracker.FailureError)(nil); !errors.As(err, &fe) || fe.Reason == "" {
			t.Errorf("http: err = %v, want a tracker failure", err)
		}
		// Over UDP opentracker answers with a bare 8-byte announce header.
		req.URL = udpURL
		_, err = c.Announce(t.Context(), req)
		if err == nil || !strings.Contains(err.Error(), "announce response is 8 bytes") {
			t.Errorf("udp: err = %v, want a short announce response", err)
		}
	})
}
