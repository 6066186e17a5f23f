// Package integration runs btfs end to end: real processes (a tracker,
// seeders, a mount) on 127.0.0.1, and reads through a real kernel FUSE
// mount.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// btfsBin is the binary under test, built once in TestMain.
var btfsBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "btfs-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	btfsBin = filepath.Join(dir, "btfs")
	out, err := exec.Command("go", "build", "-o", btfsBin, "../cmd/btfs").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build btfs: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// requireFUSE skips, loudly, only where FUSE truly cannot work.
func requireFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("SKIPPING: /dev/fuse is missing, FUSE cannot work on this machine")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Skip("SKIPPING: fusermount3 is not installed (run `make deps`)")
	}
}

// proc is a running btfs process whose output we watch.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startProg(t, name, btfsBin, offline(args)...)
}

// offline keeps a btfs command line on loopback: a command that would run
// a DHT node gets --no-dht unless the test chose its own --dht-bootstrap
// (whose default is the public routers).
func offline(args []string) []string {
	if len(args) == 0 || !slices.Contains([]string{"mount", "seed", "get", "info"}, args[0]) {
		return args
	}
	for _, a := range args {
		if strings.HasPrefix(a, "--dht-bootstrap") || a == "--no-dht" {
			return args
		}
	}
	return append([]string{args[0], "--no-dht"}, args[1:]...)
}

// startProg starts any program: its output is watched and it is killed
// when the test ends.
func startProg(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	pw.Close()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		pr.Close()
	}()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		// SIGTERM first: a btfs process then unmounts and removes its
		// status socket (a kill would leave the socket behind).
		p.stop(syscall.SIGTERM, 5*time.Second)
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", p.name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitLine waits for a line matching re and returns its submatches.
func (p *proc) waitLine(re string, timeout time.Duration) []string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(p.output(), "\n") {
			if m := rx.FindStringSubmatch(line); m != nil {
				return m
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("%s exited (%v) before printing %q:\n%s", p.name, p.err, re, p.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.t.Fatalf("%s did not print %q within %v:\n%s", p.name, re, timeout, p.output())
	return nil
}

// stop signals the process and waits for it; it reports whether it exited
// in time.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

// mounted reports whether dir is a mount point per /proc/self/mountinfo.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// content is a torrent's source tree: relative path -> bytes.
type content map[string][]byte

// writeTree writes files under root with deterministic random bytes.
func writeTree(t *testing.T, root string, sizes map[string]int) content {
	t.Helper()
	c := content{}
	rng := rand.New(rand.NewPCG(1, 2))
	for rel, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c[rel] = b
	}
	return c
}

// swarm is a tracker plus seeders for one torrent.
type swarm struct {
	torrent string
	tracker string
	seeders []*proc
}

// newSwarm creates a torrent of root (through `btfs create`), starts a
// tracker and n seeders of dataDir.
func newSwarm(t *testing.T, dataDir, root string, pieceKiB, n int) *swarm {
	t.Helper()
	return newSwarmFrom(t, root, pieceKiB, slices.Repeat([]string{dataDir}, n))
}

// newSwarmFrom is newSwarm with one data directory per seeder (so a seeder
// can hold only part of the torrent) and extra `btfs seed` flags.
func newSwarmFrom(t *testing.T, root string, pieceKiB int, seedDirs []string, seedArgs ...string) *swarm {
	t.Helper()
	trk := start(t, "tracker", "tracker", "--listen", "127.0.0.1:0", "--interval", "2s")
	url := trk.waitLine(`listening on (\S+)`, 10*time.Second)[1]
	tf := filepath.Join(t.TempDir(), "test.torrent")
	out, err := exec.Command(btfsBin, "create", "--tracker", url, "--piece-length", fmt.Sprint(pieceKiB), "-o", tf, root).CombinedOutput()
	if err != nil {
		t.Fatalf("btfs create: %v\n%s", err, out)
	}
	s := &swarm{torrent: tf, tracker: url}
	for i, dir := range seedDirs {
		args := append([]string{"seed", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info"}, seedArgs...)
		p := start(t, fmt.Sprintf("seeder%d", i), append(args, tf, dir)...)
		p.waitLine(`^seeding`, 30*time.Second)
		s.seeders = append(s.seeders, p)
	}
	return s
}

// mountTorrent starts `btfs mount` and waits until the mount is live.
func mountTorrent(t *testing.T, torrent string, extra ...string) (*proc, string) {
	t.Helper()
	requireFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Each mount gets its own empty disk cache unless the test names one.
	args := []string{"mount", "-f", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info"}
	if !slices.Contains(extra, "--cache-dir") {
		args = append(args, "--cache-dir", filepath.Join(t.TempDir(), "cache"))
	}
	args = append(args, extra...)
	args = append(args, torrent, dir)
	p := start(t, "mount", args...)
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

// readCtx reads a file with a deadline so a hung mount fails the test
// instead of hanging it.
func readCtx(ctx context.Context, path string) ([]byte, error) {
	type res struct {
		b   []byte
		err error
	}
	c := make(chan res, 1)
	go func() {
		b, err := os.ReadFile(path)
		c <- res{b, err}
	}()
	select {
	case r := <-c:
		return r.b, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("read %s: %w", path, ctx.Err())
	}
}
