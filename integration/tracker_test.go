package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freePort returns a port free for both TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			u.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// startOpentracker runs Debian's opentracker on 127.0.0.1 (HTTP and UDP on
// one port) with a whitelist holding info-hash ih.
func startOpentracker(t *testing.T, ih string) int {
	t.Helper()
	bin, err := exec.LookPath("opentracker")
	if err != nil {
		t.Skip("SKIPPING: opentracker is not installed (make test installs it)")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "whitelist"), []byte(ih+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	p := fmt.Sprint(port)
	cmd := exec.Command(bin, "-i", "127.0.0.1", "-p", p, "-P", p, "-d", dir, "-w", "whitelist")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("--- opentracker output:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// Ready once the whitelist is loaded (it is read after binding):
		// a "stopped" announce for the hash is then accepted.
		q := "/announce?info_hash=" + hexToQuery(ih) + "&peer_id=-PROBE-0123456789abc&port=1&event=stopped"
		if resp, err := http.Get("http://127.0.0.1:" + p + q); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && !bytes.Contains(b, []byte("failure")) {
				return port
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("opentracker did not listen:\n%s", out.String())
		}
	}
}

// TestTwoProcessesFindEachOtherThroughOpentracker: a seeder and a
// downloader, both btfs, meet only through the real opentracker, over
// HTTP and over UDP; a dead first tier must not stop them.
func TestTwoProcessesFindEachOtherThroughOpentracker(t *testing.T) {
	for _, scheme := range []string{"http", "udp"} {
		t.Run(scheme, func(t *testing.T) {
			data := t.TempDir()
			src := writeTree(t, filepath.Join(data, "ot"), map[string]int{"f.bin": 3<<20 + 17})
			// Make the torrent once to learn its info-hash, then again with
			// the tracker URL (the info-hash does not depend on trackers).
			tf := filepath.Join(t.TempDir(), "ot.torrent")
			create := func(trackers ...string) {
				args := []string{"create", "-o", tf}
				for _, tr := range trackers {
					args = append(args, "--tracker", tr)
				}
				if out, err := exec.Command(btfsBin, append(args, filepath.Join(data, "ot"))...).CombinedOutput(); err != nil {
					t.Fatalf("create: %v\n%s", err, out)
				}
			}
			create()
			port := startOpentracker(t, infoHash(t, tf))
			// Tier 1: a black hole (UDP) or a closed port (HTTP); tier 2: opentracker.
			dead := fmt.Sprintf("http://127.0.0.1:%d/announce", freePort(t))
			if scheme == "udp" {
				hole, err := net.ListenPacket("udp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { hole.Close() })
				dead = "udp://" + hole.LocalAddr().String() + "/announce"
			}
			create(dead, fmt.Sprintf("%s://127.0.0.1:%d/announce", scheme, port))
			s := start(t, "seeder", "seed", "--bind", "127.0.0.1", "--port", "0", "--max-announce-interval", "1s", "--log-level", "info", tf, data)
			s.waitLine(`^seeding`, 30*time.Second)
			dest := t.TempDir()
			g := start(t, "get", "get", "-q", "--bind", "127.0.0.1", "--port", "0", "--max-announce-interval", "1s", "--log-level", "info", tf, dest)
			select {
			case <-g.done:
			case <-time.After(60 * time.Second):
				t.Fatalf("btfs get did not finish:\n%s", g.output())
			}
			if g.err != nil {
				t.Fatalf("btfs get: %v\n%s", g.err, g.output())
			}
			got, err := os.ReadFile(filepath.Join(dest, "ot", "f.bin"))
			if err != nil || !bytes.Equal(got, src["f.bin"]) {
				t.Fatalf("downloaded file differs (%v)", err)
			}
		})
	}
}

// hexToQuery percent-encodes a hex info-hash's raw bytes for a query.
func hexToQuery(h string) string {
	var b strings.Builder
	for i := 0; i+1 < len(h); i += 2 {
		b.WriteString("%" + h[i:i+2])
	}
	return b.String()
}
