package integration

// More of the interoperability matrix (issue 13): Debian's transmission
// 3.00 with encryption required, both ways, and Debian's C++ btfs
// (libtorrent) reading every file of a torrent from our seeder through its
// own mount. Both run in a private network namespace with only loopback.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// transmissionIP is transmission's only address: not 127.0.0.1, where our
// mounts and the tracker are.
const transmissionIP = "127.0.0.12"

// requireTransmission skips, loudly, when transmission-cli is missing
// (`make deps` installs it, so CI never skips).
func requireTransmission(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("transmission-cli")
	if err != nil {
		t.Skip("SKIPPING: transmission-cli is not installed (run `make deps`)")
	}
	return bin
}

// requireNetns skips, loudly, where no private network namespace can be
// made: the tools are missing, or this machine does not allow it.
func requireNetns(t *testing.T) {
	t.Helper()
	for _, c := range []string{"unshare", "nsenter", "ip"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("SKIPPING: %s is not installed (run `make deps`)", c)
		}
	}
	if out, err := exec.Command("unshare", "--net", "true").CombinedOutput(); err != nil {
		t.Skipf("SKIPPING: this machine does not let us create a network namespace (unshare --net: %v: %s)",
			err, bytes.TrimSpace(out))
	}
}

// netns is a private network namespace with only loopback, up; it is
// nsenter's --net=FILE argument. A process held in it keeps it until the
// test ends.
type netns string

func newNetns(t *testing.T) netns {
	t.Helper()
	requireNetns(t)
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	h := startProg(t, "network namespace", "unshare", "--net", "--", "sleep", "infinity")
	path := fmt.Sprintf("/proc/%d/ns/net", h.cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for { // until unshare has made the namespace
		if l, err := os.Readlink(path); err == nil && l != self {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unshare --net made no network namespace within 10 s:\n%s", h.output())
		}
		select {
		case <-h.done:
			t.Fatalf("unshare --net exited (%v):\n%s", h.err, h.output())
		case <-time.After(10 * time.Millisecond):
		}
	}
	ns := netns("--net=" + path)
	if out, err := exec.Command("nsenter", string(ns), "--", "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	return ns
}

// start runs bin in the namespace (nsenter execs it: the process is bin).
func (ns netns) start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	return startProg(t, name, "nsenter", append([]string{string(ns), "--", bin}, args...)...)
}

// btfs runs a btfs command in the namespace, as start does on the host.
func (ns netns) btfs(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return ns.start(t, name, btfsBin, offline(args)...)
}

// seed is seed (clients_test.go) in the namespace.
func (ns netns) seed(t *testing.T, tf, dataDir string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"seed", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info"}, extra...)
	p := ns.btfs(t, "btfs seed", append(args, tf, dataDir)...)
	p.waitLine(`^seeding .* on port (\d+)$`, 30*time.Second)
	return p
}

// mount is mountTorrent (harness_test.go) in the namespace.
func (ns netns) mount(t *testing.T, torrent string, extra ...string) (*proc, string) {
	t.Helper()
	requireFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"mount", "-f", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info",
		"--cache-dir", filepath.Join(t.TempDir(), "cache")}
	args = append(append(args, extra...), torrent, dir)
	p := ns.btfs(t, "mount", args...)
	t.Cleanup(func() {
		if mounted(t, dir) {
			_ = exec.Command("fusermount3", "-u", "-z", dir).Run()
		}
	})
	p.waitLine(`^mounted`, 30*time.Second)
	if !mounted(t, dir) {
		t.Fatalf("btfs said mounted but %s is not a mount point", dir)
	}
	return p, dir
}

// transmission is a running transmission-cli.
type transmission struct {
	*proc
	status string // the file its status lines go to
}

// startTransmission runs transmission-cli on torrent tf with download
// directory dir, which may already hold the data: transmission verifies
// every torrent new to its config directory before it starts it. It
// returns once the torrent runs, with the status line that showed it
// ("Progress: ..." while downloading, "Seeding, ..." when complete).
//
// The CLI's main loop quits as soon as it sees the torrent stopped, and
// the torrent is stopped for a moment between that first verification and
// its start; should the CLI quit there, it starts again, with a new config
// directory. (Its -v flag queues a second verification, which widens that
// moment to 100 ms or more, so it is not used.)
func startTransmission(t *testing.T, ns netns, name, bin, tf, dir string, port int) (*transmission, string) {
	t.Helper()
	for try := 1; ; try++ {
		tr := launchTransmission(t, ns, name, bin, tf, dir, port)
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := tr.lastStatus()
			if strings.HasPrefix(st, "Progress:") || strings.HasPrefix(st, "Seeding") {
				return tr, st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %q 30 s after its start:\n%s", name, st, tr.output())
			}
			select {
			case <-tr.done:
				st = tr.lastStatus()
			case <-time.After(50 * time.Millisecond):
				continue
			}
			if try == 3 {
				t.Fatalf("%s exited (%v) before its torrent ran, %d times (last status %q):\n%s", name, tr.err, try, st, tr.output())
			}
			t.Logf("%s exited (%v) before its torrent ran (status %q); starting it again", name, tr.err, st)
			break
		}
	}
}

// launchTransmission starts transmission-cli in ns with a new config
// directory that switches off everything that could find peers other than
// through the torrent's tracker, or leave loopback were it not in a
// private namespace (DHT, local peer discovery, PEX, UPnP/NAT-PMP, the
// blocklist, RPC), and requires encryption. It listens (TCP and uTP) on
// transmissionIP:port only (IPv6 cannot be switched off: ::1 only), and
// bind-address-ipv4 also makes its tracker requests come from there, which
// is how the btfs tracker learns its address.
func launchTransmission(t *testing.T, ns netns, name, bin, tf, dir string, port int) *transmission {
	t.Helper()
	cfg := t.TempDir()
	settings := map[string]any{
		"dht-enabled":                  false,
		"lpd-enabled":                  false,
		"pex-enabled":                  false,
		"port-forwarding-enabled":      false,
		"utp-enabled":                  true,
		"encryption":                   2, // required
		"bind-address-ipv4":            transmissionIP,
		"bind-address-ipv6":            "::1",
		"peer-port":                    port,
		"peer-port-random-on-start":    false,
		"rpc-enabled":                  false,
		"blocklist-enabled":            false,
		"speed-limit-down-enabled":     false,
		"speed-limit-up-enabled":       false,
		"alt-speed-enabled":            false,
		"ratio-limit-enabled":          false,
		"idle-seeding-limit-enabled":   false,
		"download-dir":                 dir,
		"incomplete-dir-enabled":       false,
		"start-added-torrents":         true,
		"trash-original-torrent-files": false,
		"message-level":                2, // info
	}
	b, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-g", cfg, "-w", dir, "-p", fmt.Sprint(port), "-er", "-M", "-B", "-D", "-U", tf}
	// stdout is a status line redrawn with \r five times a second: it goes
	// to a file, unbuffered; the log (stderr) is watched as usual. sh
	// execs transmission itself.
	tr := &transmission{status: filepath.Join(cfg, "status.txt")}
	tr.proc = ns.start(t, name, "/bin/sh", append([]string{"-c", `out=$1; shift; exec stdbuf -o0 "$@" >"$out"`,
		"sh", tr.status, bin}, args...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- last status line of %s: %s", name, tr.lastStatus())
		}
	})
	return tr
}

// lastStatus is transmission's status line now.
func (tr *transmission) lastStatus() string {
	b, _ := os.ReadFile(tr.status)
	lines := strings.Split(strings.TrimSpace(string(b)), "\r")
	return strings.TrimSpace(lines[len(lines)-1])
}

// waitTree waits until every file of src is under dir with the same
// bytes; it fails when timeout passes or p exits first.
func waitTree(t *testing.T, p *proc, dir string, src content, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pending := ""
		for rel, want := range src {
			path := filepath.Join(dir, rel)
			if fi, err := os.Stat(path); err != nil || fi.Size() != int64(len(want)) {
				pending = rel
				break
			}
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
				pending = rel
				break
			}
		}
		if pending == "" {
			return
		}
		if time.Now().After(deadline) {
			sameTree(t, dir, src)
			t.Fatalf("%s did not download the torrent within %v (%s is missing or differs)", p.name, timeout, pending)
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before the download was complete:\n%s", p.name, p.err, p.output())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logPeers logs how the mount at mnt reached the peer at addr.
func logPeers(t *testing.T, mnt, addr string) {
	t.Helper()
	for _, st := range statusJSON(t, mnt) {
		for _, p := range st.PeerList {
			if p.Addr != addr {
				continue
			}
			for _, a := range p.Attempts {
				t.Logf("mount -> %s: attempt %s: %q", p.Addr, a.Way, a.Error)
			}
			t.Logf("mount -> %s: connected=%v way=%q", p.Addr, p.Connected, p.Way)
		}
	}
}

// TestInteropTransmission: transmission 3.00 with encryption required
// downloads a torrent from btfs, and seeds it to a btfs mount that reads
// every file; btfs runs with its defaults (--encryption prefer). Peers
// meet through the btfs tracker only.
//
// Everything runs in a private network namespace with only loopback: even
// with every discovery off, transmission looks up a route to a public IPv6
// address at start (tr_globalIPv6, a UDP connect that sends nothing), and
// on a host with an IPv6 default route that alone makes the kernel send a
// neighbour solicitation to the router.
//
// Transmission 3.00 never connects to a peer on 127.0.0.0/8 (its
// isMartianAddr drops such addresses from trackers and refuses to dial
// them), so on loopback every connection must be made by our side; and
// `btfs seed` never dials (seeders wait for leechers). So transmission
// downloads from a btfs mount that fetched the torrent from `btfs seed`
// (which is stopped before transmission starts: every byte transmission
// gets comes through the mount's own, encrypted, connection to it).
func TestInteropTransmission(t *testing.T) {
	requireFUSE(t)
	bin := requireTransmission(t)
	ns := newNetns(t)
	trk := ns.btfs(t, "tracker", "tracker", "--listen", "127.0.0.1:0", "--interval", "1s")
	url := trk.waitLine(`listening on (\S+)`, 10*time.Second)[1]
	data := t.TempDir()
	root := filepath.Join(data, "interop")
	src := writeTree(t, root, clientSizes)
	tf := makeTorrent(t, root, 64, url)

	t.Run("transmission downloads from btfs", func(t *testing.T) {
		s := ns.seed(t, tf, data, "--max-announce-interval", "1s")
		_, mnt := ns.mount(t, tf, "--prefetch", "all", "--max-announce-interval", "1s")
		readTree(t, filepath.Join(mnt, "interop"), src)
		stopSeeder(t, s)
		dest := t.TempDir()
		p, _ := startTransmission(t, ns, "transmission leecher", bin, tf, dest, 51413)
		waitTree(t, p.proc, filepath.Join(dest, "interop"), src, 60*time.Second)
		logPeers(t, mnt, transmissionIP+":51413")
		if !p.stop(syscall.SIGINT, 10*time.Second) {
			t.Logf("transmission did not exit within 10 s of SIGINT (killed)")
		}
	})

	t.Run("btfs mount reads from transmission", func(t *testing.T) {
		p, st := startTransmission(t, ns, "transmission seeder", bin, tf, data, 51414)
		if !strings.HasPrefix(st, "Seeding") {
			t.Fatalf("transmission verified the data and does not seed it: %q", st)
		}
		_, mnt := ns.mount(t, tf, "--max-announce-interval", "1s")
		readTree(t, filepath.Join(mnt, "interop"), src)
		logPeers(t, mnt, transmissionIP+":51414")
		select {
		case <-p.done:
			t.Fatalf("transmission seeder exited early (%v):\n%s", p.err, p.output())
		default:
		}
	})
}

// TestInteropCppBtfs: Debian's C++ btfs mounts a torrent whose only seeder
// is our `btfs seed` and reads every file through its mount,
// byte-identical. C++ btfs runs the DHT with the public routers and has no
// switch for it, so the whole case runs in scripts/interop-cppbtfs.sh, in
// a private network namespace with only loopback.
func TestInteropCppBtfs(t *testing.T) {
	requireFUSE(t)
	if _, err := os.Stat("/usr/bin/btfs"); err != nil {
		t.Skip("SKIPPING: Debian's C++ btfs (/usr/bin/btfs) is not installed (run `make deps`)")
	}
	requireNetns(t)
	data := t.TempDir()
	root := filepath.Join(data, "interop")
	writeTree(t, root, clientSizes)
	work := t.TempDir() // the script's TMPDIR: whatever it leaves goes with the test
	t.Cleanup(func() { unmountUnder(t, work) })

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, script(t, "interop-cppbtfs.sh"), root)
	cmd.Env = append(os.Environ(), "BTFS="+btfsBin, "TMPDIR="+work, "TIMEOUT=40")
	// Its own process group, so that a timeout stops every process it
	// started (SIGTERM lets it clean up; the rest are killed after).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	began := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever it left running
		if ctx.Err() != nil {
			t.Fatalf("scripts/interop-cppbtfs.sh did not finish within 150 s:\n%s", out)
		}
		t.Fatalf("scripts/interop-cppbtfs.sh: %v\n%s", err, out)
	}
	t.Logf("%s (%.1f s)", bytes.TrimSpace(out), time.Since(began).Seconds())
}

// unmountUnder lazily unmounts every mount below dir.
func unmountUnder(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Error(err)
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			if out, err := exec.Command("fusermount3", "-u", "-z", f[4]).CombinedOutput(); err != nil {
				t.Errorf("fusermount3 -u -z %s: %v: %s", f[4], err, out)
			}
		}
	}
}
