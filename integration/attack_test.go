package integration

// Hostile peers and trackers (issue 15): each test runs one attack of
// integration/hostile against a foreground mount that also has an honest
// `btfs seed`, reads a file through the mount during the attack, and checks
// what the issue asks: the bytes are right and come in time, the honest
// seeder is neither banned nor dropped, a peer proven to lie is banned by
// its address, abusive connections are closed, and the mount's memory and
// CPU stay bounded. Addresses: the seeder and the mount on 127.0.0.1, the
// attacker on 127.0.0.66, a bystander (a fresh peer) on 127.0.0.67, the
// hostile tracker on 127.0.0.77.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btfs/btfs/integration/hostile/report"
	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/wire"
)

const (
	attackerIP  = "127.0.0.66"
	bystanderIP = "127.0.0.67"
	// attackFile is the file read through the mount: 96 pieces of 64 KiB.
	attackFile    = "att/f.bin"
	attackSize    = 6 << 20
	attackPiece   = 64 // KiB
	attackMemMiB  = 64 // --memory-cache, as in the issue
	attackReadFor = 25 * time.Second
	// attackRSSMiB bounds the mount's peak RSS (VmHWM). Reading 6 MiB
	// peaks at 25-30 MiB under most attacks (55-78 MiB under the tracker
	// and connection floods); everything held for downloads is charged to
	// the memory cache, peers' buffers are bounded per connection and
	// connections are capped, so the cache plus 64 MiB (the margin
	// bench-efficiency allows scattered reads) leaves room for the garbage
	// collector and still catches the blow-ups (4.4 GB, 453 MB).
	attackRSSMiB = attackMemMiB + 64
)

// hostileBin builds integration/hostile once per test binary, next to the
// btfs binary (TestMain removes that directory).
var hostileBin = sync.OnceValues(func() (string, error) {
	p := filepath.Join(filepath.Dir(btfsBin), "hostile")
	if out, err := exec.Command("go", "build", "-o", p, "./hostile").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build hostile: %v\n%s", err, out)
	}
	return p, nil
})

// attackStatus is the part of `btfs status --json` these tests read.
type attackStatus struct {
	PID      int `json:"pid"`
	PeerList []struct {
		Addr      string `json:"addr"`
		Connected bool   `json:"connected"`
		Banned    bool   `json:"banned"`
		Attempts  []struct {
			Way   string `json:"way"`
			Error string `json:"error"`
		} `json:"attempts"`
	} `json:"peer_list"`
}

// attackRig is a torrent, its honest seeder and (once mounted) a mount.
type attackRig struct {
	t          *testing.T
	data, root string // the seeder's data directory; the torrent's root in it
	src        []byte
	torrent    string
	ih         [20]byte
	seeder     *proc
	seederAddr string
	mountAddr  string // the mount's listen address, fixed before it starts
	m          *proc
	mnt        string
	pid        int
	began      time.Time // when the mount was live
	cpu0       float64   // its CPU seconds then
}

func newAttackRig(t *testing.T) *attackRig {
	t.Helper()
	requireFUSE(t)
	r := &attackRig{t: t, data: t.TempDir()}
	r.root = filepath.Join(r.data, "att")
	r.src = writeTree(t, r.root, map[string]int{"f.bin": attackSize})["f.bin"]
	r.torrent = makeTorrent(t, r.root, attackPiece)
	mi, err := metainfo.Load(r.torrent)
	if err != nil {
		t.Fatal(err)
	}
	r.ih = mi.InfoHash
	var port string
	r.seeder, port = seed(t, r.torrent, r.data)
	r.seederAddr = "127.0.0.1:" + port
	r.mountAddr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	return r
}

// hostile starts an attack on the mount's address from attackerIP.
func (r *attackRig) hostile(attack string, args ...string) *proc {
	r.t.Helper()
	bin, err := hostileBin()
	if err != nil {
		r.t.Fatal(err)
	}
	args = append([]string{attack, "-torrent", r.torrent, "-target", r.mountAddr, "-bind", attackerIP}, args...)
	return startProg(r.t, "hostile "+attack, bin, args...)
}

// listening is the address a hostile peer takes the mount's dials on.
func listening(p *proc) string {
	return p.waitLine(`^listening (\S+)$`, 10*time.Second)[1]
}

// mount starts a foreground mount of torrent (wrapped in wrap, such as
// prlimit, if given) with the seeder as a peer and waits until it is live.
func (r *attackRig) mount(torrent string, wrap []string, extra ...string) {
	t := r.t
	t.Helper()
	r.mnt = filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(r.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(r.mountAddr)
	args := offline(append([]string{"mount", "-f", "--bind", "127.0.0.1", "--port", port, "--log-level", "info",
		"--cache-dir", filepath.Join(t.TempDir(), "cache"), "--memory-cache", strconv.Itoa(attackMemMiB),
		"--peer", r.seederAddr}, extra...))
	args = append(args, torrent, r.mnt)
	bin := btfsBin
	if len(wrap) > 0 {
		bin, args = wrap[0], append(append(slices.Clone(wrap[1:]), btfsBin), args...)
	}
	r.m = startProg(t, "mount", bin, args...)
	t.Cleanup(func() {
		if mounted(t, r.mnt) {
			_ = exec.Command("fusermount3", "-u", "-z", r.mnt).Run()
		}
	})
	r.m.waitLine(`^mounted .* \(port `+port+`\)$`, 30*time.Second)
	r.pid = r.m.cmd.Process.Pid
	if st := r.status(); st.PID != r.pid {
		t.Fatalf("status pid %d, want the foreground mount's %d", st.PID, r.pid)
	}
	r.began, r.cpu0 = time.Now(), cpuSeconds(t, r.pid)
}

func (r *attackRig) status() attackStatus {
	r.t.Helper()
	out, errOut, code := runBtfs(r.t, "status", "--json", r.mnt)
	if code != 0 {
		r.t.Fatalf("btfs status --json: exit %d: %s", code, errOut)
	}
	var st []attackStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		r.t.Fatalf("btfs status --json: %v\n%s", err, out)
	}
	return st[0]
}

// read reads the file through the mount within attackReadFor and fails
// the test unless it has the source's bytes.
func (r *attackRig) read() time.Duration {
	r.t.Helper()
	took, err := r.readErr(attackReadFor)
	if err != nil {
		r.t.Fatalf("read through the mount under attack: %v (after %v)", err, took.Round(time.Millisecond))
	}
	r.t.Logf("read %d bytes, identical to the source, in %v", attackSize, took.Round(time.Millisecond))
	return took
}

func (r *attackRig) readErr(timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	b, err := readCtx(ctx, filepath.Join(r.mnt, attackFile))
	took := time.Since(start)
	if err == nil && !bytes.Equal(b, r.src) {
		err = fmt.Errorf("%d bytes read differ from the %d-byte source", len(b), len(r.src))
	}
	return took, err
}

// waitAttack waits until the attack has lasted d since the mount was live.
func (r *attackRig) waitAttack(d time.Duration) {
	time.Sleep(time.Until(r.began.Add(d)))
}

// stopHostile ends an attack (SIGINT) and returns its summary.
func stopHostile(t *testing.T, p *proc) report.Summary {
	t.Helper()
	if !p.stop(syscall.SIGINT, 10*time.Second) {
		t.Fatalf("%s did not exit within 10 s of SIGINT", p.name)
	}
	return hostileResult(t, p)
}

// hostileResult parses the summary of an attack that has ended (its
// output may still be on its way through the pipe).
func hostileResult(t *testing.T, p *proc) report.Summary {
	t.Helper()
	var s report.Summary
	var err error
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err = json.Unmarshal([]byte(lastLine(p)), &s); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("%s: no summary (%v):\n%s", p.name, err, p.output())
	}
	t.Logf("%s: %s", p.name, lastLine(p))
	return s
}

// checkAlive fails the test if the mount process has exited.
func (r *attackRig) checkAlive() {
	r.t.Helper()
	select {
	case <-r.m.done:
		r.t.Fatalf("the mount process exited during the attack: %v", r.m.err)
	default:
	}
	if !mounted(r.t, r.mnt) {
		r.t.Fatal("the mount is gone")
	}
}

// checkRSS checks the mount's peak RSS against attackRSSMiB.
func (r *attackRig) checkRSS() {
	r.t.Helper()
	peak := vmHWM(r.t, r.pid)
	r.t.Logf("mount peak RSS (VmHWM) %.1f MiB, bound %d MiB", peak, attackRSSMiB)
	if peak > attackRSSMiB {
		r.t.Errorf("mount peak RSS %.1f MiB, want <= %d MiB (--memory-cache %d + 64)", peak, attackRSSMiB, attackMemMiB)
	}
}

// checkCPU checks the mount's CPU use since it was live, as a share of one
// core (0: only logs it).
func (r *attackRig) checkCPU(maxShare float64) {
	r.t.Helper()
	used, wall := cpuSeconds(r.t, r.pid)-r.cpu0, time.Since(r.began).Seconds()
	r.t.Logf("mount CPU %.2f s in %.1f s (%.0f%% of a core), bound %.0f%%", used, wall, 100*used/wall, 100*maxShare)
	if maxShare > 0 && used > maxShare*wall {
		r.t.Errorf("mount used %.2f s of CPU in %.1f s of attack (%.0f%% of a core), want <= %.0f%%", used, wall, 100*used/wall, 100*maxShare)
	}
}

// checkSeeder checks that the honest seeder is connected and not banned;
// with once, also that the mount connected to it only once (never
// dropped it).
func (r *attackRig) checkSeeder(once bool) {
	r.t.Helper()
	st := r.status()
	for _, p := range st.PeerList {
		if p.Addr != r.seederAddr {
			continue
		}
		ok := 0
		for _, a := range p.Attempts {
			if a.Error == "" {
				ok++
			}
		}
		if p.Banned || !p.Connected || once && ok != 1 {
			r.t.Errorf("honest seeder %s: connected %v, banned %v, %d connections made (attempts %+v); want connected once and not banned",
				r.seederAddr, p.Connected, p.Banned, ok, p.Attempts)
		}
		return
	}
	r.t.Errorf("honest seeder %s is not in the mount's peer list: %+v", r.seederAddr, st.PeerList)
}

// checkBanned checks that attackerIP is banned: the status shows its
// listen address (which the mount knows from --peer) banned, and a fresh
// connection from it is closed before our handshake is answered, while
// one from a bystander is answered.
func (r *attackRig) checkBanned(listenAddr string) {
	r.t.Helper()
	found := false
	for _, p := range r.status().PeerList {
		if p.Addr == listenAddr {
			found = true
			if !p.Banned {
				r.t.Errorf("attacker %s: status shows banned = false", listenAddr)
			}
		}
	}
	if !found {
		r.t.Errorf("attacker %s is not in the mount's peer list (want it shown banned)", listenAddr)
	}
	if got := handshakeFrom(attackerIP, r.mountAddr, r.ih); got != "refused" {
		r.t.Errorf("a new connection from the attacker's address %s: %s, want refused before the handshake", attackerIP, got)
	}
	if got := handshakeFrom(bystanderIP, r.mountAddr, r.ih); got != "ok" {
		r.t.Errorf("a new connection from a bystander %s: %s, want a handshake", bystanderIP, got)
	}
}

// handshakeFrom connects from the local address from to to, sends a
// handshake for ih, and tells what came back: "ok" (a handshake),
// "refused" (the connection closed first) or what went wrong.
func handshakeFrom(from, to string, ih [20]byte) string {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp4", to)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	hs := wire.Handshake{InfoHash: ih}
	copy(hs.PeerID[:], "-IT0001-bystander-00")
	b, _ := hs.AppendBinary(nil)
	if _, err = conn.Write(b); err == nil {
		_, err = wire.ReadHandshake(conn)
	}
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return "refused"
	default:
		return err.Error()
	}
}

// handshakeWithin retries handshakeFrom for up to d (handshake slots free
// up as a flood's connections close) and returns the last answer.
func handshakeWithin(from, to string, ih [20]byte, d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		got := handshakeFrom(from, to, ih)
		if got == "ok" || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// vmHWM is a process's peak RSS in MiB.
func vmHWM(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}

// cpuSeconds is a process's user+system CPU time (USER_HZ is 100 on
// Linux).
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// goroutines is the mount's goroutine count from its pprof endpoint.
func goroutines(addr string) (int, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`goroutine profile: total (\d+)`).FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("no goroutine total in %.80q", b)
	}
	return strconv.Atoi(string(m[1]))
}

// TestAttackBadHash: a peer answers every request with garbage and, when
// dropped or refused, reconnects at once under a new peer id. Its address
// is banned on the first proof; every reconnect is refused before the
// handshake; the honest seeder that sent parts of the same pieces is not
// banned and the read completes.
func TestAttackBadHash(t *testing.T) {
	r := newAttackRig(t)
	h := r.hostile("badhash", "-listen", "0", "-for", "60s")
	hl := listening(h)
	r.mount(r.torrent, nil, "--peer", hl)
	r.read()
	r.waitAttack(8 * time.Second)
	s := stopHostile(t, h)
	if s.BadBlocks == 0 {
		t.Fatal("the attacker sent no bad block: the attack did not happen")
	}
	// One handshake each way before the ban at most, and a few that
	// raced with it.
	if s.Handshakes > 4 || s.Refused == 0 {
		t.Errorf("attacker: %d handshakes completed, %d reconnects refused before the handshake; want <= 4 and > 0 (reconnects of a banned address refused)",
			s.Handshakes, s.Refused)
	}
	r.checkCPU(0)
	r.checkSeeder(false)
	r.checkBanned(hl)
	r.checkRSS()
	r.checkAlive()
}

// TestAttackStolenPeerID: a peer claims the honest seeder's peer id and
// sends one bad block while the seeder is away (stopped); once the seeder
// is back it is accepted (the ban is on the liar's address, not on the id)
// and the read completes.
func TestAttackStolenPeerID(t *testing.T) {
	r := newAttackRig(t)
	bin, err := hostileBin()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "peerid", "-torrent", r.torrent, "-target", r.seederAddr, "-bind", bystanderIP).Output()
	var id struct {
		PeerID string `json:"peer_id"`
	}
	if err != nil || json.Unmarshal(out, &id) != nil || len(id.PeerID) != 40 {
		t.Fatalf("hostile peerid: %v: %s", err, out)
	}
	t.Logf("honest seeder's peer id: %s", id.PeerID)
	// The seeder is stopped, so the attacker gets in first under its id
	// (the mount's dial to it waits in the kernel's accept queue).
	if err := r.seeder.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = r.seeder.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	h := r.hostile("stealid", "-id", id.PeerID, "-bad", "1", "-data", r.data, "-listen", "0", "-for", "6s")
	hl := listening(h)
	r.mount(r.torrent, nil, "--peer", hl)
	type result struct {
		err  error
		took time.Duration
	}
	rc := make(chan result, 1)
	go func() {
		took, err := r.readErr(40 * time.Second)
		rc <- result{err, took}
	}()
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		t.Fatal("hostile stealid did not end within 20 s")
	}
	s := hostileResult(t, h)
	resume()
	res := <-rc
	if s.BadBlocks != 1 {
		t.Errorf("the attacker sent %d bad blocks, want 1", s.BadBlocks)
	}
	if res.err != nil {
		t.Fatalf("read after the seeder came back: %v (after %v)", res.err, res.took.Round(time.Millisecond))
	}
	t.Logf("read %d bytes, identical to the source, in %v", attackSize, res.took.Round(time.Millisecond))
	r.checkSeeder(false)
	r.checkBanned(hl)
	r.checkRSS()
	r.checkAlive()
}

// TestAttackRequestFlood: a peer sends requests as fast as it can while
// choked and never reads the answers: with the fast extension (each
// request answered by a reject, the case) and without it, not
// interested (never unchoked, so nothing is answered: only the rule that
// a peer requesting while choked is disconnected can end it). Rejects
// and requests queued are bounded, the peer is disconnected, and the
// mount's memory stays bounded.
func TestAttackRequestFlood(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"rejects", nil},
		{"choked", []string{"-fast=false", "-interested=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newAttackRig(t)
			h := r.hostile("reqflood", append([]string{"-listen", "0", "-for", "60s"}, tc.args...)...)
			hl := listening(h)
			r.mount(r.torrent, nil, "--peer", hl)
			r.read()
			r.waitAttack(8 * time.Second)
			s := stopHostile(t, h)
			if s.MsgsSent == 0 {
				t.Fatal("the attacker sent no request: the attack did not happen")
			}
			if s.ClosedByPeer == 0 {
				t.Errorf("the mount never closed a connection flooding it with %d requests while choked; want it disconnected", s.MsgsSent)
			}
			r.checkSeeder(false)
			r.checkRSS()
			r.checkAlive()
		})
	}
}

// TestAttackTrackerFlood: a tracker answers every announce with 150,000
// peers (addresses nobody listens on, new ones each time) and an interval
// of 1 s, which the mount is told to follow. It keeps a bounded set of
// them: its memory and CPU stay bounded, and the read from the honest
// seeder completes.
func TestAttackTrackerFlood(t *testing.T) {
	requireFUSE(t)
	bin, err := hostileBin()
	if err != nil {
		t.Fatal(err)
	}
	trk := startProg(t, "hostile tracker", bin, "tracker", "-bind", "127.0.0.77", "-listen", "0", "-peers", "150000", "-interval", "1", "-for", "60s")
	url := trk.waitLine(`^listening (http://\S+)$`, 10*time.Second)[1]
	r := newAttackRig(t)
	// The mount's torrent names the tracker; the seeder's (the same info)
	// does not.
	tf := makeTorrent(t, r.root, attackPiece, url)
	if infoHash(t, tf) != infoHash(t, r.torrent) {
		t.Fatal("adding a tracker changed the info-hash")
	}
	// --max-announce-interval 1s lifts the engine's 30 s floor on
	// re-announces, so the mount takes the tracker's interval of 1 s.
	r.mount(tf, nil, "--max-announce-interval", "1s")
	r.read()
	r.waitAttack(10 * time.Second)
	s := stopHostile(t, trk)
	if s.Announces == 0 {
		t.Fatal("the mount never announced to the hostile tracker: the attack did not happen")
	}
	r.checkCPU(0.3)
	r.checkSeeder(false)
	r.checkRSS()
	r.checkAlive()
}

// TestAttackConnFlood: more inbound connections than the mount has file
// descriptors (half-open: never a handshake; the mount under ulimit -n
// 1024), and 2400 that handshake and idle. The accept loop lives, the
// connections still handshaking (and their goroutines) stay bounded, the
// honest seeder is never dropped for them, the read completes, and once
// the flood is over a new peer completes a handshake.
func TestAttackConnFlood(t *testing.T) {
	for _, tc := range []struct {
		mode string
		n    int
		wrap []string
		hold time.Duration // how long the flood lasts
	}{
		{"half", 1100, []string{"prlimit", "--nofile=1024:1024", "--"}, 12 * time.Second},
		// Past the 30 s a new peer is safe from being replaced, so that
		// churn could reach the seeder.
		{"idle", 2400, nil, 34 * time.Second},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			if tc.wrap != nil {
				if _, err := exec.LookPath(tc.wrap[0]); err != nil {
					t.Skipf("SKIPPING: %s is not installed", tc.wrap[0])
				}
			}
			r := newAttackRig(t)
			metrics := "127.0.0.1:" + strconv.Itoa(freePort(t))
			r.mount(r.torrent, tc.wrap, "--metrics", metrics)
			h := r.hostile("connflood", "-n", strconv.Itoa(tc.n), "-mode", tc.mode, "-for", tc.hold.String())
			// Goroutines at the flood's height: a handshake slot each
			// (capped) plus the peers' (capped at --max-peers).
			time.Sleep(5 * time.Second)
			peakG := 0
			for range 5 {
				g, err := goroutines(metrics)
				if err != nil {
					t.Errorf("mount's pprof endpoint during the flood: %v", err)
					break
				}
				peakG = max(peakG, g)
				time.Sleep(500 * time.Millisecond)
			}
			t.Logf("mount goroutines during the flood: up to %d", peakG)
			if peakG > 600 {
				t.Errorf("mount ran %d goroutines under a flood of %d connections, want <= 600 (handshakes in progress capped)", peakG, tc.n)
			}
			r.waitAttack(tc.hold - 6*time.Second)
			r.read()
			select {
			case <-h.done:
			case <-time.After(tc.hold + 15*time.Second):
				t.Fatal("hostile connflood did not end")
			}
			s := hostileResult(t, h)
			if s.MaxOpen == 0 && s.Handshakes == 0 {
				t.Fatal("the flood opened no connection: the attack did not happen")
			}
			r.checkSeeder(true)
			if got := handshakeWithin(bystanderIP, r.mountAddr, r.ih, 15*time.Second); got != "ok" {
				t.Errorf("after the flood, a new peer's handshake: %s, want answered", got)
			}
			r.checkRSS()
			r.checkAlive()
		})
	}
}

// TestAttackConnFloodLockout: idle peers flood the mount while its dial to
// the honest seeder is still pending (the seeder is stopped for 3 s). They
// are new, so none may be replaced, but incoming peers may take only part
// of the slots: the dial lands once the seeder answers and the read
// completes.
func TestAttackConnFloodLockout(t *testing.T) {
	r := newAttackRig(t)
	if err := r.seeder.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = r.seeder.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	r.mount(r.torrent, nil)
	h := r.hostile("connflood", "-n", "200", "-mode", "idle", "-for", "25s")
	time.Sleep(3 * time.Second)
	resume()
	took, err := r.readErr(20 * time.Second)
	if err != nil {
		t.Fatalf("read while idle peers flood the mount: %v (after %v): the honest seeder was locked out", err, took.Round(time.Millisecond))
	}
	t.Logf("read %d bytes, identical to the source, in %v", attackSize, took.Round(time.Millisecond))
	if s := stopHostile(t, h); s.Handshakes < 40 {
		t.Fatalf("the flood completed %d handshakes, fewer than the mount's incoming slots: the test proves nothing", s.Handshakes)
	}
	r.checkSeeder(false)
	r.checkAlive()
}

// floodTest runs a peer attack that the mount must end by closing the
// connection, promptly, every time: each session lasts at most maxSession.
// The attacker connects again 1 s after each close, and the mount may use
// at most maxCPU of a core meanwhile (an undefended mount spends 40-80% of
// one reading the flood; the 1 s keeps this about the flood, not about
// the cost of reconnections).
func floodTest(t *testing.T, attack string, maxSession time.Duration, maxCPU float64) {
	r := newAttackRig(t)
	h := r.hostile(attack, "-listen", "0", "-for", "60s")
	hl := listening(h)
	r.mount(r.torrent, nil, "--peer", hl)
	r.read()
	r.waitAttack(10 * time.Second)
	s := stopHostile(t, h)
	if s.Handshakes == 0 || s.MsgsSent == 0 {
		t.Fatalf("the attacker completed %d handshakes and sent %d messages: the attack did not happen", s.Handshakes, s.MsgsSent)
	}
	if s.ClosedByPeer == 0 || s.Longest > maxSession.Seconds() {
		t.Errorf("%s: the mount closed %d of %d connections, the longest after %.1f s; want each closed within %v",
			attack, s.ClosedByPeer, s.Handshakes, s.Longest, maxSession)
	}
	r.checkCPU(maxCPU)
	r.checkSeeder(false)
	r.checkRSS()
	r.checkAlive()
}

// TestAttackUnsolicitedBlocks: a peer sends piece messages nobody asked
// for, as fast as it can; the mount closes the connection.
func TestAttackUnsolicitedBlocks(t *testing.T) {
	floodTest(t, "unsolicited", 5*time.Second, 0.25)
}

// TestAttackKeepAliveFlood: a peer sends nothing but keep-alives, as fast
// as it can; the mount closes the connection and does not burn a core.
func TestAttackKeepAliveFlood(t *testing.T) {
	floodTest(t, "keepalive", 5*time.Second, 0.25)
}

// TestAttackChokeFlap: a peer chokes and unchokes the mount as fast as it
// can; the mount closes the connection and does not burn a core.
func TestAttackChokeFlap(t *testing.T) {
	floodTest(t, "chokeflap", 5*time.Second, 0.25)
}

// TestAttackTrickle: peers that send one byte at a time after the
// handshake cost the mount nothing that matters meanwhile. The issue's
// bounds take minutes to show, so BTFS_ATTACK_LONG=1 (with go test
// -timeout 20m) also checks them: a connection is closed once 3 minutes
// pass without a whole message (a piece message sent a byte every 10 s),
// and once it has sent nothing but keep-alives for 10 minutes (keep-alives
// sent a byte every 10 s, a whole one every 40 s).
func TestAttackTrickle(t *testing.T) {
	long := os.Getenv("BTFS_ATTACK_LONG") == "1"
	hold, every := 10*time.Second, "1s"
	if long {
		hold, every = 200*time.Second, "10s"
	}
	r := newAttackRig(t)
	h := r.hostile("trickle", "-listen", "0", "-conns", "20", "-every", every, "-for", hold.String())
	hl := listening(h)
	r.mount(r.torrent, nil, "--peer", hl)
	var ka *proc
	const kaHold = 640 * time.Second
	if long {
		ka = r.hostile("trickle", "-msg", "keepalive", "-conns", "5", "-every", "10s", "-for", kaHold.String())
	}
	r.read()
	for _, p := range []*proc{h, ka} {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		case <-time.After(kaHold + 15*time.Second):
			t.Fatalf("%s did not end", p.name)
		}
	}
	s := hostileResult(t, h)
	if s.Handshakes == 0 {
		t.Fatal("the attacker completed no handshake: the attack did not happen")
	}
	if long {
		// The 20 first connections are closed after 3 minutes; those
		// opened again then are cut short by the attack's end.
		if s.ClosedByPeer < 20 || s.Longest > 190 {
			t.Errorf("trickle: the mount closed %d of %d connections, the longest after %.0f s; want the first 20 closed within 3 min (+10 s)",
				s.ClosedByPeer, s.Handshakes, s.Longest)
		}
		k := hostileResult(t, ka)
		if k.ClosedByPeer < 5 || k.Longest > 630 {
			t.Errorf("keep-alive trickle: the mount closed %d of %d connections, the longest after %.0f s; want the first 5 closed within 10 min (+30 s)",
				k.ClosedByPeer, k.Handshakes, k.Longest)
		}
	} else {
		t.Log("BTFS_ATTACK_LONG=1 (go test -timeout 20m) also checks that trickling connections are closed after 3 and 10 minutes")
	}
	r.checkSeeder(false)
	r.checkRSS()
	r.checkAlive()
}
