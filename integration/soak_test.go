package integration

// The soak test (issue 15, item 5): 16 readers (half sequential, half
// scattered) and 20 libtorrent leechers on one mount for BTFS_SOAK (a Go
// duration; 60s by default, `make soak` runs 10m), all on loopback. Every
// byte read or downloaded must equal the source, and the mount's RSS,
// goroutines and file descriptors must stay flat once warmed up.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// soakSizes is a ~121 MiB torrent: large files for sequential reads and
// for the leechers, odd sizes, a 1-byte file.
var soakSizes = map[string]int{
	"movie.mkv":            48<<20 + 12345,
	"disc/part1.bin":       32<<20 + 1,
	"disc/part2.bin":       24<<20 - 777,
	"disc/extras/tail.bin": 16<<20 + 4097,
	"notes.txt":            54321,
	"one.byte":             1,
	"z/last.bin":           700_001,
}

const (
	soakReaders  = 16 // half sequential, half scattered
	soakLeechers = 20
	soakMemCache = 32 // MiB, --memory-cache
	// soakDisk (MiB, --cache-size) holds about 3/4 of the torrent, so
	// pieces are evicted and fetched from the seeders again all along:
	// the download path soaks too, not only the first seconds.
	soakDisk = 96
	// soakStuck is how long one read may take before the run stops as
	// hung: far beyond any read on an idle loopback swarm.
	soakStuck = 60 * time.Second
)

// soakSample is one look at the mount process.
type soakSample struct {
	at       time.Duration
	rss      int64 // bytes
	fds      int
	gor      int
	uploaded int64
}

// soakStats is what the readers tally; errs keeps the first few errors.
type soakStats struct {
	seqBytes, scatBytes atomic.Int64
	seqFiles, scatReads atomic.Int64
	nErrs               atomic.Int64
	busy                [soakReaders]atomic.Int64 // unix nanos a read began; 0 = none in progress
	mu                  sync.Mutex
	errs                []string
}

func (s *soakStats) fail(format string, args ...any) {
	s.nErrs.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) < 20 {
		s.errs = append(s.errs, fmt.Sprintf(format, args...))
	}
}

// firstErrs returns the errors kept.
func (s *soakStats) firstErrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// soakDuration is BTFS_SOAK, or 60s.
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("BTFS_SOAK")
	if v == "" {
		return 60 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 10*time.Second {
		t.Fatalf("BTFS_SOAK=%q: want a Go duration of at least 10s", v)
	}
	return d
}

func TestSoak(t *testing.T) {
	requireFUSE(t)
	requireLibtorrent(t)
	dur := soakDuration(t)
	if dl, ok := t.Deadline(); ok && time.Until(dl) < dur+time.Minute {
		t.Fatalf("BTFS_SOAK=%v needs a minute more than that left of go test -timeout; %v is left", dur, time.Until(dl).Round(time.Second))
	}
	data := t.TempDir()
	root := filepath.Join(data, "soak")
	src := writeTree(t, root, soakSizes)
	var total int64
	for _, b := range src {
		total += int64(len(b))
	}
	// Private: the leechers, told only of the mount, learn of nobody else.
	tf := filepath.Join(t.TempDir(), "soak.torrent")
	if out, err := exec.Command(btfsBin, "create", "--private", "--piece-length", "256", "-o", tf, root).CombinedOutput(); err != nil {
		t.Fatalf("btfs create: %v\n%s", err, out)
	}

	// Three honest seeders: two of ours, one libtorrent.
	var peers []string
	for range 2 {
		_, port := seed(t, tf, data)
		peers = append(peers, "--peer", "127.0.0.1:"+port)
	}
	lts := startProg(t, "libtorrent seeder", debianPython, "-u", script(t, "lt_seed.py"), "--listen", "127.0.0.2", tf, data)
	peers = append(peers, "--peer", "127.0.0.2:"+lts.waitLine(`^seeding .* on port (\d+)$`, 30*time.Second)[1])

	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := append([]string{"--log-level", "info", "--memory-cache", fmt.Sprint(soakMemCache),
		"--cache-size", fmt.Sprintf("%dM", soakDisk), "--metrics", metricsAddr}, peers...)
	m, mnt := mountTorrent(t, tf, args...)
	pid := m.cmd.Process.Pid
	hc := &http.Client{Timeout: 10 * time.Second}
	var first soakSample
	waitFor(t, 10*time.Second, "the metrics endpoint", func() bool {
		var err error
		first, err = sampleMount(hc, pid, metricsAddr)
		return err == nil
	})

	leechDir := t.TempDir()
	leech := startProg(t, "libtorrent leechers", debianPython, "-u", script(t, "lt_soak_leechers.py"), fmt.Sprint(soakLeechers), tf, leechDir,
		"127.0.0.1:"+mountPort(t, m))
	leech.waitLine(`^started \d+$`, 60*time.Second)

	// The readers run until ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &soakStats{}
	names := slices.Sorted(maps.Keys(src))
	var wg sync.WaitGroup
	for i := range soakReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := soakReader{id: i, direct: i%4 >= 2, rng: rand.New(rand.NewPCG(uint64(i), 7)),
				dir: filepath.Join(mnt, "soak"), names: names, src: src, st: st}
			if i%2 == 0 {
				r.sequential(ctx)
			} else {
				r.scattered(ctx, total)
			}
		}()
	}
	readersDone := make(chan struct{})
	go func() { wg.Wait(); close(readersDone) }()

	// Sample every few seconds until the duration ends or something breaks.
	every := min(max(dur/100, time.Second), 5*time.Second)
	begin := time.Now()
	samples := []soakSample{first}
	tick := time.NewTicker(every)
	defer tick.Stop()
	end := time.After(dur)
run:
	for {
		select {
		case <-end:
			break run
		case <-m.done:
			t.Errorf("btfs mount exited during the soak (%v)", m.err)
			break run
		case <-leech.done:
			t.Errorf("the libtorrent leechers exited during the soak (%v)", leech.err)
			break run
		case <-tick.C:
		}
		s, err := sampleMount(hc, pid, metricsAddr)
		if err != nil {
			t.Errorf("sample at %v: %v", time.Since(begin).Round(time.Second), err)
			break
		}
		s.at = time.Since(begin)
		samples = append(samples, s)
		if i, d := st.stuck(); d > soakStuck {
			t.Errorf("reader %d has been in one read for %v", i, d.Round(time.Second))
			break
		}
		if st.nErrs.Load() > 0 {
			break // reported below
		}
	}
	elapsed := time.Since(begin)
	cancel()
	select {
	case <-readersDone:
	case <-time.After(2 * soakStuck):
		// They stay blocked in the kernel; the mount's cleanup (SIGTERM,
		// lazy unmount) frees them.
		t.Errorf("readers still reading %v after the soak ended", 2*soakStuck)
	}

	// Stop the leechers, then take the mount's last numbers: everything the
	// leechers got, the mount had sent.
	if !leech.stop(syscall.SIGTERM, 30*time.Second) {
		t.Errorf("libtorrent leechers did not exit within 30 s of SIGTERM")
	}
	last, err := sampleMount(hc, pid, metricsAddr)
	if err != nil {
		t.Fatalf("last sample: %v", err)
	}
	lr := checkLeechers(t, leech.output(), src)

	t.Logf("soak ran %v (%d samples every %v) on a %d-byte torrent, memory cache %d MiB, disk cache %d MiB",
		elapsed.Round(time.Second), len(samples), every, total, soakMemCache, soakDisk)
	t.Logf("readers: %d sequential file reads (%d bytes), %d scattered reads (%d bytes), %d errors",
		st.seqFiles.Load(), st.seqBytes.Load(), st.scatReads.Load(), st.scatBytes.Load(), st.nErrs.Load())
	mv := mountMetrics(hc, metricsAddr)
	t.Logf("mount: %d reads served (%d failed), %d bytes downloaded from the seeders, %d uploaded",
		mv["btfs_read_seconds_count"], mv["btfs_read_errors_total"], mv["btfs_downloaded_bytes_total"], last.uploaded)
	if drops := droppedPeers(m.output()); len(drops) > 0 {
		t.Logf("mount dropped peers: %s", strings.Join(drops, "; "))
		// The leechers are honest libtorrent: none may look like an abuser.
		for _, d := range drops {
			if strings.Contains(d, "abuse") || strings.Contains(d, "flood") || strings.Contains(d, "outbox full") {
				t.Errorf("an honest leecher was dropped as hostile: %s", d)
			}
		}
	}
	t.Logf("leechers: %d rounds completed and verified (%d-%d per leecher, %d got nothing, slowest %.1f s), %d payload bytes downloaded",
		lr.rounds, lr.minRounds, lr.maxRounds, lr.starved, lr.slowest, lr.payload)
	errs := st.firstErrs()
	for _, e := range errs {
		t.Errorf("read error: %s", e)
	}
	if n := st.nErrs.Load(); n > int64(len(errs)) {
		t.Errorf("... %d read errors in all", n)
	}
	if st.seqFiles.Load() == 0 || st.scatReads.Load() == 0 {
		t.Errorf("readers finished no work: %d sequential files, %d scattered reads", st.seqFiles.Load(), st.scatReads.Load())
	}
	if lr.rounds == 0 {
		t.Errorf("no leecher completed a download from the mount in %v", elapsed.Round(time.Second))
	}
	// The mount, seeding, unchokes 4 peers by rate plus one optimistic
	// unchoke rotating every 30 s, and a fresh connection waits behind
	// older ones: in a short run some leechers rightly wait throughout.
	if lr.starved > 0 && dur >= 3*time.Minute {
		t.Errorf("%d of %d leechers received nothing from the mount in %v", lr.starved, soakLeechers, elapsed.Round(time.Second))
	}
	if lr.payload > last.uploaded {
		t.Errorf("leechers received %d payload bytes but the mount sent only %d: they had another source", lr.payload, last.uploaded)
	}
	checkFlat(t, samples)
}

// soakReader is one reader goroutine. The kernel keeps a mount's file
// pages cached across opens, which would soon answer every read without
// asking the mount; so a direct reader opens with O_DIRECT (each read
// goes to the mount as issued), and the others drop the file's cached
// pages before each open (reads reach the mount through the kernel's
// readahead, as for cp).
type soakReader struct {
	id     int
	direct bool
	rng    *rand.Rand
	dir    string
	names  []string
	src    content
	st     *soakStats
}

func (r *soakReader) open(name string) (*os.File, error) {
	if r.direct {
		return os.OpenFile(filepath.Join(r.dir, name), os.O_RDONLY|syscall.O_DIRECT, 0)
	}
	f, err := os.Open(filepath.Join(r.dir, name))
	if err != nil {
		return nil, err
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		f.Close()
		return nil, fmt.Errorf("fadvise: %w", err)
	}
	return f, nil
}

// sequential reads whole files front to back, with a read size chosen
// per file, and compares every chunk with the source.
func (r *soakReader) sequential(ctx context.Context) {
	id, rng, names, src, st := r.id, r.rng, r.names, r.src, r.st
	sizes := []int{4 << 10, 64 << 10, 128 << 10, 1 << 20}
	buf := make([]byte, 1<<20)
	for k := id / 2; ctx.Err() == nil; k++ {
		name := names[k%len(names)]
		want := src[name]
		f, err := r.open(name)
		if err != nil {
			st.fail("reader %d: open %s: %v", id, name, err)
			return
		}
		b := buf[:sizes[rng.IntN(len(sizes))]]
		var pos int
		for ctx.Err() == nil {
			st.busy[id].Store(time.Now().UnixNano())
			n, err := f.Read(b)
			st.busy[id].Store(0)
			if n > 0 {
				if pos+n > len(want) || !bytes.Equal(b[:n], want[pos:pos+n]) {
					st.fail("reader %d: %s: %d bytes at %d differ from the source", id, name, n, pos)
					f.Close()
					return
				}
				pos += n
				st.seqBytes.Add(int64(n))
			}
			if err == io.EOF {
				if pos != len(want) {
					st.fail("reader %d: %s: EOF at %d of %d bytes", id, name, pos, len(want))
				} else {
					st.seqFiles.Add(1)
				}
				break
			}
			if err != nil {
				st.fail("reader %d: %s at %d: %v", id, name, pos, err)
				f.Close()
				return
			}
		}
		f.Close()
	}
}

// scattered opens a file (mostly picked by size, sometimes any of them)
// and preads it at random offsets and lengths (1 byte to 2 MiB, spread
// over the magnitudes), comparing with the source.
func (r *soakReader) scattered(ctx context.Context, total int64) {
	id, rng, names, src, st := r.id, r.rng, r.names, r.src, r.st
	buf := make([]byte, 2<<20)
	for ctx.Err() == nil {
		name := names[rng.IntN(len(names))]
		if rng.IntN(8) != 0 {
			at := rng.Int64N(total)
			for _, n := range names {
				if at < int64(len(src[n])) {
					name = n
					break
				}
				at -= int64(len(src[n]))
			}
		}
		want := src[name]
		f, err := r.open(name)
		if err != nil {
			st.fail("reader %d: open %s: %v", id, name, err)
			return
		}
		for range 32 {
			if ctx.Err() != nil {
				break
			}
			off := rng.IntN(len(want))
			b := buf[:1+rng.IntN(1<<rng.IntN(22))]
			st.busy[id].Store(time.Now().UnixNano())
			n, err := f.ReadAt(b, int64(off))
			st.busy[id].Store(0)
			wantN := min(len(b), len(want)-off)
			if n != wantN || (n < len(b)) != (err == io.EOF) || (err != nil && err != io.EOF) {
				st.fail("reader %d: %s: pread %d at %d: %d bytes, %v (want %d)", id, name, len(b), off, n, err, wantN)
				f.Close()
				return
			}
			if !bytes.Equal(b[:n], want[off:off+n]) {
				st.fail("reader %d: %s: %d bytes at %d differ from the source", id, name, n, off)
				f.Close()
				return
			}
			st.scatReads.Add(1)
			st.scatBytes.Add(int64(n))
		}
		f.Close()
	}
}

// stuck returns the reader whose current read began longest ago, and how
// long ago.
func (s *soakStats) stuck() (int, time.Duration) {
	now := time.Now().UnixNano()
	var who int
	var longest time.Duration
	for i := range s.busy {
		if b := s.busy[i].Load(); b != 0 && time.Duration(now-b) > longest {
			who, longest = i, time.Duration(now-b)
		}
	}
	return who, longest
}

// sampleMount reads the mount process's RSS and open fds from /proc, its
// goroutine count from pprof, and its upload and peers from /metrics.
func sampleMount(hc *http.Client, pid int, addr string) (soakSample, error) {
	var s soakSample
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(ents)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" && f[2] == "kB" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			s.rss = kb << 10
		}
	}
	if s.rss == 0 {
		return s, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	body, err := httpGet(hc, "http://"+addr+"/debug/pprof/goroutine?debug=1")
	if err != nil {
		return s, err
	}
	if _, err := fmt.Sscanf(body, "goroutine profile: total %d", &s.gor); err != nil {
		return s, fmt.Errorf("goroutine profile: %q: %v", firstLine(body), err)
	}
	body, err = httpGet(hc, "http://"+addr+"/metrics")
	if err != nil {
		return s, err
	}
	mv := metricValues(body)
	s.uploaded = mv["btfs_uploaded_bytes_total"]
	return s, nil
}

// mountMetrics is the mount's /metrics, or none.
func mountMetrics(hc *http.Client, addr string) map[string]int64 {
	body, err := httpGet(hc, "http://"+addr+"/metrics")
	if err != nil {
		return nil
	}
	return metricValues(body)
}

func httpGet(hc *http.Client, url string) (string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// metricValues reads the unlabelled integer series of a Prometheus text page.
func metricValues(body string) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// droppedPeers counts a mount's "dropping peer" log lines by reason
// (numbers in a reason shown as N).
func droppedPeers(out string) []string {
	digits := regexp.MustCompile(`\d+`)
	n := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `msg="dropping peer"`) {
			continue
		}
		_, why, _ := strings.Cut(line, " err=")
		n[digits.ReplaceAllString(strings.Trim(why, `"`), "N")]++
	}
	var reasons []string
	for why, c := range n {
		reasons = append(reasons, fmt.Sprintf("%d× %s", c, why))
	}
	slices.Sort(reasons)
	return reasons
}

// waitFor polls ok every 100 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leechResult sums the leechers' output.
type leechResult struct {
	rounds, minRounds, maxRounds int
	payload                      int64
	starved                      int     // leechers that received no payload byte
	slowest                      float64 // seconds of the slowest finished round
}

// checkLeechers compares every file hash the leechers reported with the
// source and sums their rounds and payload.
func checkLeechers(t *testing.T, out string, src content) leechResult {
	t.Helper()
	want := map[string]string{}
	for rel, b := range src {
		h := sha1.Sum(b)
		want["soak/"+rel] = hex.EncodeToString(h[:])
	}
	var r leechResult
	r.minRounds = -1
	stopped, files := 0, map[string]int{} // "I ROUND" -> files checked
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 5 && f[0] == "file":
			w, ok := want[f[4]]
			if !ok {
				t.Errorf("leecher %s round %s: file %s is not in the source", f[1], f[2], f[4])
			} else if f[3] != w {
				t.Errorf("leecher %s round %s: %s has SHA-1 %s, the source %s", f[1], f[2], f[4], f[3], w)
			}
			files[f[1]+" "+f[2]]++
		case len(f) == 4 && f[0] == "stopped":
			n, err1 := strconv.Atoi(f[2])
			p, err2 := strconv.ParseInt(f[3], 10, 64)
			if err := errors.Join(err1, err2); err != nil {
				t.Errorf("leechers: %q: %v", line, err)
				continue
			}
			stopped++
			r.rounds += n
			r.payload += p
			if p == 0 {
				r.starved++
			}
			if r.minRounds < 0 || n < r.minRounds {
				r.minRounds = n
			}
			r.maxRounds = max(r.maxRounds, n)
		case len(f) == 5 && f[0] == "done":
			if secs, err := strconv.ParseFloat(f[3], 64); err == nil {
				r.slowest = max(r.slowest, secs)
			}
		case len(f) > 0 && f[0] == "error":
			t.Errorf("leechers: %s", line)
		}
	}
	if stopped != soakLeechers {
		t.Errorf("%d of %d leechers reported at the end:\n%s", stopped, soakLeechers, out)
	}
	if len(files) != r.rounds {
		t.Errorf("leechers hashed %d rounds' files but report %d rounds", len(files), r.rounds)
	}
	for k, n := range files {
		if n != len(src) {
			t.Errorf("leecher round %s: %d files hashed, want %d", k, n, len(src))
		}
	}
	return r
}

// checkFlat logs each series by thirds of the run and fails when the last
// third rises above the middle one by more than the slack, or a sample
// passes an absolute bound. The first 20% of the samples are warm-up
// (connections opening, the caches filling) and not judged.
func checkFlat(t *testing.T, samples []soakSample) {
	t.Helper()
	if len(samples) < 10 {
		t.Errorf("only %d samples: too few to judge flatness", len(samples))
		return
	}
	n := len(samples)
	thirds := [3][]soakSample{samples[n/5 : n/3], samples[n/3 : 2*n/3], samples[2*n/3:]}
	series := []struct {
		name  string
		get   func(soakSample) int64
		unit  int64
		slack func(middleMax int64) int64
		bound int64
	}{
		// The memory cache, the download/hash/store buffers it is charged
		// for, and the garbage collector's headroom (GOGC=100: twice the
		// live heap) of the peers' send and receive buffers. 15% or 32 MiB
		// of noise: the heap breathes with the leechers' reconnects.
		// Bound: the memory cache plus 150 MiB for the runtime, code,
		// disk cache index and that headroom.
		{"RSS MiB", func(s soakSample) int64 { return s.rss }, 1 << 20,
			func(m int64) int64 { return max(32<<20, m*15/100) }, (soakMemCache + 150) << 20},
		// A few per peer connection (23 peers), per FUSE request in
		// flight (16 readers and the kernel's readahead) and a fixed
		// few dozen; a leecher's fresh round replaces its connection.
		{"goroutines", func(s soakSample) int64 { return int64(s.gor) }, 1,
			func(int64) int64 { return 50 }, 500},
		// One per connection (23) and inbound handshake, the listeners,
		// /dev/fuse, the disk cache's files, the metrics connection.
		{"fds", func(s soakSample) int64 { return int64(s.fds) }, 1,
			func(int64) int64 { return 20 }, 128},
	}
	for _, s := range series {
		var line strings.Builder
		var maxes [3]int64
		for i, th := range thirds {
			vs := make([]int64, len(th))
			for j, x := range th {
				vs[j] = s.get(x)
			}
			slices.Sort(vs)
			maxes[i] = vs[len(vs)-1]
			fmt.Fprintf(&line, "  [%v-%v] min %d median %d max %d", th[0].at.Round(time.Second), th[len(th)-1].at.Round(time.Second),
				vs[0]/s.unit, vs[len(vs)/2]/s.unit, vs[len(vs)-1]/s.unit)
		}
		t.Logf("%-10s%s", s.name, line.String())
		if slack := s.slack(maxes[1]); maxes[2] > maxes[1]+slack {
			t.Errorf("%s grew: last third's max %d > middle third's max %d + %d", s.name, maxes[2]/s.unit, maxes[1]/s.unit, slack/s.unit)
		}
		for _, x := range samples[n/5:] {
			if s.get(x) > s.bound {
				t.Errorf("%s reached %d at %v, above the bound %d", s.name, s.get(x)/s.unit, x.at.Round(time.Second), s.bound/s.unit)
				break
			}
		}
	}
}
