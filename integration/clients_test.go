package integration

// Interoperability with real BitTorrent clients from Debian: libtorrent
// (python3-libtorrent, driven by scripts/lt_leech.py and scripts/lt_seed.py)
// and aria2c, as leechers from a btfs mount and as seeders for btfs get;
// a seeder -> mount -> mount chain; and the upload rate limit as a real
// client sees it.

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// python3-libtorrent is built for Debian's own interpreter only.
const debianPython = "/usr/bin/python3"

// clientSizes is an ~8 MiB multi-file torrent: nested directories, sizes
// that are not multiples of the piece or block size, a 1-byte file.
var clientSizes = map[string]int{
	"video/part1.bin":       3<<20 + 4097,
	"video/part2.bin":       2<<20 + 1,
	"video/extras/tail.bin": 2<<20 - 12345,
	"notes.txt":             54321,
	"one.byte":              1,
	"z/last.bin":            700_001,
}

// requireLibtorrent skips, loudly, when python3-libtorrent is missing
// (`make deps` installs it, so CI never skips).
func requireLibtorrent(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(debianPython, "-c", "import libtorrent").CombinedOutput(); err != nil {
		t.Skipf("SKIPPING: python3-libtorrent is not usable from %s (run `make deps`): %v\n%s", debianPython, err, out)
	}
}

// requireAria2 skips, loudly, when aria2c is missing (`make deps` installs
// it, so CI never skips).
func requireAria2(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("aria2c")
	if err != nil {
		t.Skip("SKIPPING: aria2c is not installed (run `make deps`)")
	}
	return bin
}

// script returns the absolute path of scripts/NAME.
func script(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "scripts", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitExit0 waits for p to exit and fails unless it exited 0.
func waitExit0(t *testing.T, p *proc, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not finish within %v:\n%s", p.name, timeout, p.output())
	}
	if p.err != nil {
		t.Fatalf("%s: %v\n%s", p.name, p.err, p.output())
	}
}

// makeTorrent runs `btfs create` on root with the given trackers (none: a
// torrent whose peers can come only from --peer / connect_peer).
func makeTorrent(t *testing.T, root string, pieceKiB int, trackers ...string) string {
	t.Helper()
	tf := filepath.Join(t.TempDir(), filepath.Base(root)+".torrent")
	args := []string{"create", "--piece-length", fmt.Sprint(pieceKiB), "-o", tf}
	for _, tr := range trackers {
		args = append(args, "--tracker", tr)
	}
	if out, err := exec.Command(btfsBin, append(args, root)...).CombinedOutput(); err != nil {
		t.Fatalf("btfs create: %v\n%s", err, out)
	}
	return tf
}

// seed starts `btfs seed` of dataDir and returns it with its port.
func seed(t *testing.T, tf, dataDir string, extra ...string) (*proc, string) {
	t.Helper()
	args := append([]string{"seed", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info"}, extra...)
	p := start(t, "btfs seed", append(args, tf, dataDir)...)
	return p, p.waitLine(`^seeding .* on port (\d+)$`, 30*time.Second)[1]
}

// mountPort is the listen port from a mount's `mounted ... (port P)` line.
func mountPort(t *testing.T, m *proc) string {
	t.Helper()
	return m.waitLine(`^mounted .* \(port (\d+)\)$`, 5*time.Second)[1]
}

// stopSeeder stops a seeder and waits until it is gone, so that whatever
// is downloaded afterwards cannot come from it.
func stopSeeder(t *testing.T, p *proc) {
	t.Helper()
	if !p.stop(syscall.SIGINT, 10*time.Second) {
		t.Fatalf("%s did not exit after SIGINT:\n%s", p.name, p.output())
	}
}

// sameTree compares every file of src under dir.
func sameTree(t *testing.T, dir string, src content) {
	t.Helper()
	for rel, want := range src {
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes downloaded differ from the %d-byte source", rel, len(got), len(want))
		}
	}
}

// aria2Args are aria2c's flags for a loopback-only swarm whose peers come
// only from the torrent's tracker.
func aria2Args(t *testing.T, dir string) []string {
	return []string{
		"--no-conf", "--dir", dir,
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--bt-external-ip=127.0.0.1", "--interface=127.0.0.1", "--disable-ipv6=true",
		"--listen-port=" + fmt.Sprint(freePort(t)), "--bt-tracker-interval=1",
		"--file-allocation=none", "--summary-interval=0", "--enable-color=false", "--console-log-level=notice",
	}
}

// TestLibtorrentLeechesFromMount: a mount with --prefetch all fetches a
// torrent from a btfs seeder, the seeder goes away, and libtorrent
// downloads the whole torrent from the mount alone.
func TestLibtorrentLeechesFromMount(t *testing.T) {
	requireFUSE(t)
	requireLibtorrent(t)
	data := t.TempDir()
	root := filepath.Join(data, "clients")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64) // no tracker: peers only by address
	s, sport := seed(t, tf, data)
	m, mnt := mountTorrent(t, tf, "--prefetch", "all", "--peer", "127.0.0.1:"+sport)
	readTree(t, filepath.Join(mnt, "clients"), src)
	stopSeeder(t, s)

	dest := t.TempDir()
	lt := startProg(t, "libtorrent leecher", debianPython, "-u", script(t, "lt_leech.py"), "--timeout", "45",
		tf, dest, "127.0.0.1:"+mountPort(t, m))
	waitExit0(t, lt, 60*time.Second)
	sameTree(t, filepath.Join(dest, "clients"), src)
	t.Logf("libtorrent: %s", lastLine(lt))
}

// TestAria2LeechesFromMount: as above with aria2c, which learns of the
// mount only from the btfs tracker the mount announces to.
func TestAria2LeechesFromMount(t *testing.T) {
	requireFUSE(t)
	aria2 := requireAria2(t)
	trk := start(t, "tracker", "tracker", "--listen", "127.0.0.1:0", "--interval", "1s")
	url := trk.waitLine(`listening on (\S+)`, 10*time.Second)[1]
	data := t.TempDir()
	root := filepath.Join(data, "clients")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64, url)
	s, _ := seed(t, tf, data, "--max-announce-interval", "1s")
	_, mnt := mountTorrent(t, tf, "--prefetch", "all", "--max-announce-interval", "1s")
	readTree(t, filepath.Join(mnt, "clients"), src)
	stopSeeder(t, s)

	dest := t.TempDir()
	a := startProg(t, "aria2c leecher", aria2, append(aria2Args(t, dest), "--seed-time=0", tf)...)
	waitExit0(t, a, 60*time.Second)
	sameTree(t, filepath.Join(dest, "clients"), src)
}

// TestBtfsDownloadsFromRealClients: btfs get downloads from a libtorrent
// seeder given by address, and from an aria2c seeder found only through
// Debian's opentracker.
func TestBtfsDownloadsFromRealClients(t *testing.T) {
	t.Run("libtorrent", func(t *testing.T) {
		requireLibtorrent(t)
		data := t.TempDir()
		root := filepath.Join(data, "clients")
		src := writeTree(t, root, clientSizes)
		tf := makeTorrent(t, root, 64)
		lt := startProg(t, "libtorrent seeder", debianPython, "-u", script(t, "lt_seed.py"), tf, data)
		port := lt.waitLine(`^seeding .* on port (\d+)$`, 30*time.Second)[1]
		dest := t.TempDir()
		g := start(t, "btfs get", "get", "-q", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info",
			"--peer", "127.0.0.1:"+port, tf, dest)
		waitExit0(t, g, 60*time.Second)
		sameTree(t, filepath.Join(dest, "clients"), src)
	})
	t.Run("aria2c via opentracker", func(t *testing.T) {
		aria2 := requireAria2(t)
		data := t.TempDir()
		root := filepath.Join(data, "clients")
		src := writeTree(t, root, clientSizes)
		// The info-hash does not depend on trackers: learn it, whitelist
		// it, then make the torrent that names opentracker.
		otPort := startOpentracker(t, infoHash(t, makeTorrent(t, root, 64)))
		tf := makeTorrent(t, root, 64, fmt.Sprintf("http://127.0.0.1:%d/announce", otPort))
		// -V checks the existing data; --seed-ratio=0.0 seeds until killed.
		a := startProg(t, "aria2c seeder", aria2, append(aria2Args(t, data), "-V", "--seed-ratio=0.0", tf)...)
		dest := t.TempDir()
		g := start(t, "btfs get", "get", "-q", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info",
			"--max-announce-interval", "1s", tf, dest)
		waitExit0(t, g, 60*time.Second)
		sameTree(t, filepath.Join(dest, "clients"), src)
		select {
		case <-a.done:
			t.Fatalf("aria2c seeder exited early (%v):\n%s", a.err, a.output())
		default:
		}
	})
}

// TestChainSeederMountMount: seeder -> mount A -> mount B. The torrent has
// no tracker and B is given only A's address, so every byte B reads came
// through A, which fetches from the seeder in the background.
func TestChainSeederMountMount(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	root := filepath.Join(data, "clients")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64)
	_, sport := seed(t, tf, data)
	a, _ := mountTorrent(t, tf, "--prefetch", "all", "--peer", "127.0.0.1:"+sport)
	b, mntB := mountTorrent(t, tf, "--peer", "127.0.0.1:"+mountPort(t, a))
	readTree(t, filepath.Join(mntB, "clients"), src)
	total := int64(0)
	for _, c := range src {
		total += int64(len(c))
	}
	if got := unmount(t, b); got < total {
		t.Fatalf("mount B downloaded %d bytes, less than the torrent's %d", got, total)
	}
}

// TestUploadRateLimit: a seeder with --max-upload-rate 5000 (kB/s) feeds
// a libtorrent leecher at 5 MB/s, measured by libtorrent over 10 s in the
// middle of a 64 MiB download.
func TestUploadRateLimit(t *testing.T) {
	requireLibtorrent(t)
	data := t.TempDir()
	root := filepath.Join(data, "big")
	src := writeTree(t, root, map[string]int{"big.bin": 64 << 20})
	tf := makeTorrent(t, root, 256)
	_, sport := seed(t, tf, data, "--max-upload-rate", "5000")
	dest := t.TempDir()
	lt := startProg(t, "libtorrent leecher", debianPython, "-u", script(t, "lt_leech.py"), "--timeout", "40",
		"--window", "2,10", tf, dest, "127.0.0.1:"+sport)
	waitExit0(t, lt, 50*time.Second)
	sameTree(t, filepath.Join(dest, "big"), src)
	m := regexp.MustCompile(`window seconds=([\d.]+) bytes=(\d+) payload=(\d+) complete_before_end=(\d)`).FindStringSubmatch(lt.output())
	if m == nil {
		t.Fatalf("no measurement window in the leecher's output (the download ended too early?):\n%s", lt.output())
	}
	secs, _ := strconv.ParseFloat(m[1], 64)
	n, _ := strconv.ParseInt(m[2], 10, 64)
	payload, _ := strconv.ParseInt(m[3], 10, 64)
	rate := float64(n) / secs
	t.Logf("libtorrent received %d bytes (%d payload) in %.3f s: %.0f B/s (%.3f MB/s); limit 5000 kB/s",
		n, payload, secs, rate, rate/1e6)
	if m[4] == "1" {
		t.Errorf("download finished inside the 10 s window: the limit was not held")
	}
	const want = 5000 * 1000.0
	if math.Abs(rate-want) > 0.10*want {
		t.Errorf("measured %.0f B/s, want within 10%% of %.0f B/s", rate, want)
	}
}

// lastLine is p's last line of output.
func lastLine(p *proc) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(p.output())), []byte("\n"))
	return string(lines[len(lines)-1])
}
