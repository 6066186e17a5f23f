package integration

// The interoperability matrix (issue 13): python3-libtorrent with its
// defaults (uTP first, encryption enabled), with encryption forced (RC4
// only, both ways), over uTP only and over TCP only; aria2c requiring
// encryption. Each downloads the whole torrent from our `btfs seed` and
// seeds it to a btfs mount that reads every file, byte-identical.

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// ltModes are libtorrent's configurations in the matrix: lt_peer.py flags.
// way is the regexp the mount's connection to it must match.
var ltModes = []struct {
	name string
	args []string
	way  string
}{
	{"defaults", []string{"--transport", "both"}, `^(tcp|utp)`},
	{"encryption forced", []string{"--transport", "both", "--enc", "forced"}, `\+mse$`},
	{"uTP only", []string{"--transport", "utp"}, `^utp`},
	{"TCP only", []string{"--transport", "tcp"}, `^tcp`},
}

func TestInteropLibtorrentMatrix(t *testing.T) {
	requireFUSE(t)
	requireLibtorrent(t)
	data := t.TempDir()
	root := filepath.Join(data, "interop")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64) // no tracker: peers by address
	for _, m := range ltModes {
		t.Run(m.name+"/libtorrent downloads from btfs seed", func(t *testing.T) {
			s, sport := seed(t, tf, data)
			dest := t.TempDir()
			args := append([]string{"-u", script(t, "lt_peer.py"), "--exit-when-done", "--peer", "127.0.0.1:" + sport, "--torrent", tf}, m.args...)
			lt := startProg(t, "libtorrent leecher", debianPython, append(args, dest)...)
			waitExit0(t, lt, 60*time.Second)
			sameTree(t, filepath.Join(dest, "interop"), src)
			stopSeeder(t, s)
		})
		t.Run(m.name+"/btfs mount reads from libtorrent", func(t *testing.T) {
			args := append([]string{"-u", script(t, "lt_peer.py"), "--torrent", tf}, m.args...)
			lt := startProg(t, "libtorrent seeder", debianPython, append(args, data)...)
			port := lt.waitLine(`^seeding .* on port (\d+)$`, 30*time.Second)[1]
			_, mnt := mountTorrent(t, tf, "--peer", "127.0.0.2:"+port)
			readTree(t, filepath.Join(mnt, "interop"), src)
			st := statusJSON(t, mnt)
			if len(st) != 1 {
				t.Fatalf("status of one mount: %d entries", len(st))
			}
			// How the mount reached libtorrent: its successful attempt (the
			// connection itself may be gone: two seeds part).
			reached := ""
			for _, p := range st[0].PeerList {
				for _, a := range p.Attempts {
					t.Logf("%s: attempt %s: %q", p.Addr, a.Way, a.Error)
					if a.Error == "" {
						reached = a.Way
					}
				}
			}
			if !regexp.MustCompile(m.way).MatchString(reached) {
				t.Errorf("reached libtorrent by %q, want %s", reached, m.way)
			}
		})
	}
}

// TestInteropAria2RequiresEncryption: aria2c with --bt-require-crypto
// downloads from our seeder, and seeds to a mount; peers meet through the
// btfs tracker.
func TestInteropAria2RequiresEncryption(t *testing.T) {
	requireFUSE(t)
	aria2 := requireAria2(t)
	trk := start(t, "tracker", "tracker", "--listen", "127.0.0.1:0", "--interval", "1s")
	url := trk.waitLine(`listening on (\S+)`, 10*time.Second)[1]
	data := t.TempDir()
	root := filepath.Join(data, "interop")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64, url)
	crypto := []string{"--bt-require-crypto=true", "--bt-min-crypto-level=arc4"}
	t.Run("aria2c downloads from btfs seed", func(t *testing.T) {
		s, _ := seed(t, tf, data, "--max-announce-interval", "1s")
		dest := t.TempDir()
		a := startProg(t, "aria2c leecher", aria2, append(append(aria2Args(t, dest), crypto...), "--seed-time=0", tf)...)
		waitExit0(t, a, 60*time.Second)
		sameTree(t, filepath.Join(dest, "interop"), src)
		stopSeeder(t, s)
	})
	t.Run("btfs mount reads from aria2c", func(t *testing.T) {
		a := startProg(t, "aria2c seeder", aria2, append(append(aria2Args(t, data), crypto...), "-V", "--seed-ratio=0.0", tf)...)
		_, mnt := mountTorrent(t, tf, "--max-announce-interval", "1s")
		readTree(t, filepath.Join(mnt, "interop"), src)
		select {
		case <-a.done:
			t.Fatalf("aria2c seeder exited early (%v):\n%s", a.err, a.output())
		default:
		}
	})
}

// TestIPv6SeedToMount: a btfs seeder and a mount that both listen on ::1
// only; the mount reaches the seeder over IPv6 and reads every file.
func TestIPv6SeedToMount(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	root := filepath.Join(data, "six")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64)
	_, sport := seed(t, tf, data, "--bind", "::1")
	_, mnt := mountTorrent(t, tf, "--bind", "::1", "--peer", "[::1]:"+sport)
	readTree(t, filepath.Join(mnt, "six"), src)
	st := statusJSON(t, mnt)
	reached := false
	for _, p := range st[0].PeerList {
		for _, a := range p.Attempts {
			reached = reached || a.Error == "" && p.Addr == "[::1]:"+sport
		}
	}
	if !reached {
		t.Fatalf("status does not show the seeder reached at [::1]:%s: %+v", sport, st[0].PeerList)
	}
}
