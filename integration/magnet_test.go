package integration

// Magnet links, the DHT and peer exchange against real libtorrent peers
// (scripts/lt_peer.py), through real mounts. Every DHT here is on
// loopback: btfs gets --dht-bootstrap with local nodes, libtorrent gets
// dht_bootstrap_nodes.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ltPeer starts scripts/lt_peer.py on listen with args and returns it with
// its port (TCP and DHT).
func ltPeer(t *testing.T, name, listen string, args ...string) (*proc, string) {
	t.Helper()
	p := startProg(t, name, debianPython, append([]string{"-u", script(t, "lt_peer.py"), "--listen", listen}, args...)...)
	port := p.waitLine(`^listening \S+ (\d+)$`, 15*time.Second)[1]
	return p, port
}

// magnetOf is the magnet link `btfs info` prints for a torrent file, with
// extra parameters appended.
func magnetOf(t *testing.T, torrent string, extra ...string) string {
	t.Helper()
	out, _, code := runBtfs(t, "info", torrent)
	if code != 0 {
		t.Fatalf("btfs info %s: exit %d", torrent, code)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "magnet:" {
			mg := f[1]
			for _, e := range extra {
				mg += "&" + e
			}
			return mg
		}
	}
	t.Fatalf("btfs info printed no magnet link:\n%s", out)
	return ""
}

// TestMagnetThroughDHT: four libtorrent seeders find each other in a
// loopback DHT; a mount given a magnet with no tracker, knowing only one
// seeder as its DHT bootstrap node, fetches the metadata and reads every
// file byte-identical.
func TestMagnetThroughDHT(t *testing.T) {
	requireFUSE(t)
	requireLibtorrent(t)
	data := t.TempDir()
	root := filepath.Join(data, "dhtswarm")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64) // no tracker
	_, first := ltPeer(t, "lt seeder 1", "127.0.0.2", "--dht-alone", "--announce", "--torrent", tf, data)
	boot := "127.0.0.2:" + first
	for i := 3; i <= 5; i++ {
		s, _ := ltPeer(t, fmt.Sprintf("lt seeder %d", i-1), fmt.Sprintf("127.0.0.%d", i), "--dht", boot, "--announce", "--torrent", tf, data)
		s.waitLine(`^seeding`, 30*time.Second)
	}
	start := time.Now()
	cache := filepath.Join(t.TempDir(), "cache")
	m, mnt := mountTorrent(t, magnetOf(t, tf), "--dht-bootstrap", boot, "--cache-dir", cache)
	t.Logf("magnet mounted through the DHT in %v", time.Since(start))
	readTree(t, filepath.Join(mnt, "dhtswarm"), src)
	if !strings.Contains(m.output(), "mounted dhtswarm") {
		t.Errorf("mount output lacks the torrent's name:\n%s", m.output())
	}
	unmount(t, m)
	// The node table outlives the process, for the next start.
	if b, err := os.ReadFile(filepath.Join(cache, "dht-nodes")); err != nil || len(b) == 0 {
		t.Errorf("DHT node table not kept in the cache dir: %v", err)
	}
}

// TestLibtorrentMagnetFromBtfsDHT: the other way round: a libtorrent client
// with only a magnet link and our seeder's DHT node as its bootstrap finds
// the seeder through our node, gets the metadata from it (BEP 9) and
// downloads the torrent.
func TestLibtorrentMagnetFromBtfsDHT(t *testing.T) {
	requireLibtorrent(t)
	data := t.TempDir()
	root := filepath.Join(data, "fromus")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64)
	_, port := seed(t, tf, data, "--dht-bootstrap", "")
	dest := t.TempDir()
	lt, _ := ltPeer(t, "lt magnet leecher", "127.0.0.2", "--dht", "127.0.0.1:"+port, "--magnet", magnetOf(t, tf), "--exit-when-done", dest)
	lt.waitLine(`^metadata fromus`, 60*time.Second)
	waitExit0(t, lt, 60*time.Second)
	sameTree(t, filepath.Join(dest, "fromus"), src)
}

// TestMagnetWithTracker: a magnet whose only source is its tracker; the
// metadata comes from libtorrent seeders; every file of the multi-file
// torrent reads byte-identical; a remount of the same magnet starts from
// the kept metadata with no peer at all.
func TestMagnetWithTracker(t *testing.T) {
	requireFUSE(t)
	requireLibtorrent(t)
	// libtorrent re-announces no sooner than its min_announce_interval
	// (5 min): a long interval keeps our tracker from expiring its seeders.
	trk := start(t, "tracker", "tracker", "--listen", "127.0.0.1:0", "--interval", "60s")
	url := trk.waitLine(`listening on (\S+)`, 10*time.Second)[1]
	data := t.TempDir()
	root := filepath.Join(data, "trk")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64, url)
	var seeders []*proc
	for i := 2; i <= 4; i++ {
		s, _ := ltPeer(t, fmt.Sprintf("lt seeder %d", i), fmt.Sprintf("127.0.0.%d", i), "--torrent", tf, data)
		s.waitLine(`^seeding`, 30*time.Second)
		seeders = append(seeders, s)
	}
	cache := filepath.Join(t.TempDir(), "cache")
	mg := magnetOf(t, tf) // carries tr=url
	if !strings.Contains(mg, "&tr=") {
		t.Fatalf("magnet lacks the tracker: %s", mg)
	}
	m, mnt := mountTorrent(t, mg, "--no-dht", "--cache-dir", cache)
	readTree(t, filepath.Join(mnt, "trk"), src)
	if _, err := os.Stat(filepath.Join(cache, "torrents", infoHash(t, tf)+".torrent")); err != nil {
		t.Errorf("fetched metadata not kept in the cache dir: %v", err)
	}
	unmount(t, m)
	for _, s := range seeders {
		stopSeeder(t, s)
	}
	// Offline: the kept metadata and the disk cache are all it needs.
	_, mnt2 := mountTorrent(t, mg, "--no-dht", "--cache-dir", cache, "--metadata-timeout", "2s")
	readTree(t, filepath.Join(mnt2, "trk"), src)
}

// TestMagnetPeerExchange: the magnet names one libtorrent peer (x.pe) that
// is connected to three libtorrent seeders; the mount learns of them
// through that peer's PEX messages and downloads from at least two.
func TestMagnetPeerExchange(t *testing.T) {
	requireFUSE(t)
	requireLibtorrent(t)
	data := t.TempDir()
	root := filepath.Join(data, "pex")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64)
	var seeders []*proc
	var ports []string
	for i := 3; i <= 5; i++ {
		s, port := ltPeer(t, fmt.Sprintf("lt seeder %d", i), fmt.Sprintf("127.0.0.%d", i), "--torrent", tf, data)
		s.waitLine(`^seeding`, 30*time.Second)
		seeders, ports = append(seeders, s), append(ports, port)
	}
	hubArgs := []string{"--torrent", tf}
	for i, p := range ports {
		hubArgs = append(hubArgs, "--peer", fmt.Sprintf("127.0.0.%d:%s", i+3, p))
	}
	hub, hubPort := ltPeer(t, "lt hub", "127.0.0.2", append(hubArgs, t.TempDir())...)
	for i := range ports {
		hub.waitLine(fmt.Sprintf(`^peer 127\.0\.0\.%d:`, i+3), 15*time.Second)
	}
	mg := magnetOf(t, tf, "x.pe=127.0.0.2:"+hubPort)
	m, mnt := mountTorrent(t, mg, "--no-dht")
	readTree(t, filepath.Join(mnt, "pex"), src)
	unmount(t, m)
	served := 0
	for _, s := range seeders {
		stopSeeder(t, s)
		var up int64
		if _, err := fmt.Sscanf(lastLine(s), "stopped: uploaded %d payload bytes", &up); err != nil {
			t.Fatalf("%s: %q", s.name, lastLine(s))
		}
		if up > 0 {
			served++
		}
	}
	if served < 2 {
		t.Errorf("%d of 3 seeders known only through PEX served the mount, want >= 2", served)
	}
}

// TestPexTellsLibtorrent: a mount connected to a btfs seeder tells a
// libtorrent peer about that seeder through PEX, and libtorrent connects
// to it (peer source 4 = pex).
func TestPexTellsLibtorrent(t *testing.T) {
	requireFUSE(t)
	requireLibtorrent(t)
	data := t.TempDir()
	root := filepath.Join(data, "pexout")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64)
	_, sport := seed(t, tf, data)
	// A slow upload keeps libtorrent a leecher (a seed would not connect
	// to another seed) until our first PEX message, ~5 s in.
	m, mnt := mountTorrent(t, tf, "--prefetch", "all", "--peer", "127.0.0.1:"+sport, "--max-upload-rate", "100")
	readTree(t, filepath.Join(mnt, "pexout"), src)
	lt, _ := ltPeer(t, "lt leecher", "127.0.0.2", "--torrent", tf, "--peer", "127.0.0.1:"+mountPort(t, m), t.TempDir())
	lt.waitLine(`^peer 127\.0\.0\.1:`+sport+` source=4$`, 30*time.Second)
}

// TestMagnetMetadataPhaseAndTimeout: a background mount of a magnet whose
// only peer never answers shows the metadata phase in `btfs status`, then
// fails after --metadata-timeout with one clear line, leaving nothing
// mounted or running.
func TestMagnetMetadataPhaseAndTimeout(t *testing.T) {
	requireFUSE(t)
	dead := freePort(t) // nothing listens there
	mg := "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20) + "&dn=nobody&x.pe=127.0.0.1:" + fmt.Sprint(dead)
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		out, errOut, code := daemonMount(t, mg, dir, "--metadata-timeout", "4s")
		done <- result{out, errOut, code}
	}()
	sawPhase := false
	for time.Since(start) < 3*time.Second && !sawPhase {
		time.Sleep(300 * time.Millisecond)
		out, _, code := runBtfs(t, "status", "--json", dir)
		if code == 0 && strings.Contains(out, `"phase": "metadata"`) {
			sawPhase = true
			if !strings.Contains(out, `"peers_known": 1`) || !strings.Contains(out, `"name": "nobody"`) {
				t.Errorf("metadata phase status lacks the peer count or name:\n%s", out)
			}
		}
	}
	if !sawPhase {
		t.Error("btfs status never showed the metadata phase")
	}
	r := <-done
	took := time.Since(start)
	checkOneLineError(t, "mount of a magnet nobody serves", r.out, r.errOut, r.code, "no metadata for abab")
	if !strings.Contains(r.errOut, "--peer") {
		t.Errorf("the error does not say what to try: %q", r.errOut)
	}
	if took < 4*time.Second || took > 20*time.Second {
		t.Errorf("mount failed after %v, want about the 4 s --metadata-timeout", took)
	}
	if mounted(t, dir) {
		t.Error("something is mounted after the failure")
	}
	assertNoStrayProcesses(t, dir)
}
