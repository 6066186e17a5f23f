package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCLIUsage: a usage error prints a short usage on stderr and exits 2;
// --help lists the flags GNU-style on stdout; compatibility and benchmark
// flags are accepted but not listed.
func TestCLIUsage(t *testing.T) {
	short := func(t *testing.T, errOut, cmd string) {
		t.Helper()
		lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
		if len(lines) > 3 {
			t.Errorf("usage error printed %d lines, want at most 3:\n%s", len(lines), errOut)
		}
		if !strings.Contains(errOut, "usage: btfs "+cmd) || !strings.Contains(errOut, "Try 'btfs "+cmd+" --help' for more.") {
			t.Errorf("no short usage of %s on stderr:\n%s", cmd, errOut)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"missing argument", []string{"mount", "x.torrent"}, "usage: btfs mount [flags] TORRENT|MAGNET|DIR MOUNTPOINT"},
		{"unknown flag", []string{"mount", "--bogus", "x.torrent", "/mnt"}, "unknown flag --bogus"},
		{"bad value", []string{"mount", "--port", "many", "x.torrent", "/mnt"}, `invalid value "many" for --port`},
		{"too many arguments", []string{"info", "a.torrent", "b.torrent"}, "too many arguments"},
		// Accepted quietly: the C++ btfs flags and the benchmarks' profile.
		{"hidden flags accepted", []string{"mount", "-keep", "--data-directory", "/tmp", "--cpuprofile", "/dev/null", "x.torrent"}, "missing MOUNTPOINT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runBtfs(t, tc.args...)
			if code != 2 || out != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, out)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, errOut)
			}
			short(t, errOut, tc.args[0])
		})
	}

	singleDash := regexp.MustCompile(`(?m)^\s+-[a-z][a-z-]+`) // -port instead of --port
	help := func(t *testing.T, args ...string) string {
		t.Helper()
		out, errOut, code := runBtfs(t, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("btfs %v: exit %d, stderr %q", args, code, errOut)
		}
		if m := singleDash.FindString(out); m != "" {
			t.Errorf("btfs %v lists a long flag with one dash: %q", args, m)
		}
		return out
	}
	t.Run("mount --help", func(t *testing.T) {
		out := help(t, "mount", "--help")
		for _, want := range []string{"--port N", "--allow-non-empty", "-f, --foreground", "--cache-dir DIR", "-o OPTIONS"} {
			if !strings.Contains(out, want) {
				t.Errorf("mount --help does not list %q:\n%s", want, out)
			}
		}
		for _, hidden := range []string{"cpuprofile", "-keep", "data-directory", "--utp "} {
			if strings.Contains(out, hidden) {
				t.Errorf("mount --help lists %q:\n%s", hidden, out)
			}
		}
		if short := help(t, "mount", "-h"); short != out {
			t.Errorf("mount -h differs from mount --help")
		}
	})
	t.Run("info --help", func(t *testing.T) {
		out := help(t, "info", "--help")
		for _, want := range []string{"--metadata-timeout DURATION", "--peer HOST:PORT", "--cache-dir DIR", "--no-dht"} {
			if !strings.Contains(out, want) {
				t.Errorf("info --help does not list %q:\n%s", want, out)
			}
		}
	})
	t.Run("seed --help", func(t *testing.T) {
		if out := help(t, "seed", "--help"); strings.Contains(out, "cpuprofile") || !strings.Contains(out, "--max-upload-rate") {
			t.Errorf("seed --help:\n%s", out)
		}
	})
}

// TestMountNonEmpty: a mountpoint that holds files is refused, naming
// --allow-non-empty, and nothing is mounted; with the flag the mount hides
// the files until it is unmounted.
func TestMountNonEmpty(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	c := writeTree(t, filepath.Join(data, "ne"), map[string]int{"f.bin": 50000})
	sw := newSwarm(t, data, filepath.Join(data, "ne"), 16, 1)
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(dir, "mine.txt")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := daemonMount(t, sw.torrent, dir)
	checkOneLineError(t, "btfs mount", out, errOut, code, "--allow-non-empty")
	if !strings.Contains(errOut, "not empty") {
		t.Errorf("stderr does not say the mountpoint is not empty: %q", errOut)
	}
	if mounted(t, dir) {
		t.Fatal("mounted over a non-empty directory without --allow-non-empty")
	}
	assertNoStrayProcesses(t, dir)

	out, errOut, code = daemonMount(t, sw.torrent, dir, "--allow-non-empty")
	if code != 0 {
		t.Fatalf("btfs mount --allow-non-empty: exit %d: %s%s", code, out, errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := readCtx(ctx, filepath.Join(dir, "ne", "f.bin"))
	if err != nil || string(b) != string(c["f.bin"]) {
		t.Fatalf("read through the mount: %v (%d bytes)", err, len(b))
	}
	if _, err := os.Stat(mine); err == nil {
		t.Error("the directory's own file shows through the mount")
	}
	if out, errOut, code := runBtfs(t, "unmount", dir); code != 0 {
		t.Fatalf("btfs unmount: exit %d: %s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(mine); err != nil || string(b) != "mine" {
		t.Errorf("after unmounting, %s: %q, %v", mine, b, err)
	}
}

// TestStatusTrackersAndRates: the text and JSON status agree on each
// tracker's tier (1-based); a tracker never reached shows "never" and has
// no last_announce in JSON; "1 peer" is singular; the download rate falls
// to 0 once the transfer is over; the log file of a background mount is
// shown.
func TestStatusTrackersAndRates(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	c := writeTree(t, filepath.Join(data, "st"), map[string]int{"f.bin": 2 << 20})
	trk := start(t, "tracker", "tracker", "--listen", "127.0.0.1:0", "--interval", "2s")
	live := trk.waitLine(`listening on (\S+)`, 10*time.Second)[1]
	const dead = "http://127.0.0.1:1/announce" // nothing listens on port 1
	tf := filepath.Join(t.TempDir(), "st.torrent")
	if out, err := exec.Command(btfsBin, "create", "--tracker", live, "--tracker", dead, "--piece-length", "64", "-o", tf, filepath.Join(data, "st")).CombinedOutput(); err != nil {
		t.Fatalf("btfs create: %v\n%s", err, out)
	}
	seed := start(t, "seeder", "seed", "--bind", "127.0.0.1", "--port", "0", tf, data)
	seed.waitLine(`^seeding`, 30*time.Second)

	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := daemonMount(t, tf, dir, "--max-announce-interval", "1s"); code != 0 {
		t.Fatalf("btfs mount: exit %d: %s%s", code, out, errOut)
	}

	type tracker struct {
		URL          string          `json:"url"`
		Tier         int             `json:"tier"`
		LastAnnounce json.RawMessage `json:"last_announce"`
	}
	type status struct {
		Peers        int       `json:"peers"`
		DownloadRate float64   `json:"download_rate"`
		LogFile      string    `json:"log_file"`
		Trackers     []tracker `json:"trackers"`
	}
	get := func() status {
		t.Helper()
		out, errOut, code := runBtfs(t, "status", "--json", dir)
		if code != 0 {
			t.Fatalf("btfs status --json: exit %d: %s", code, errOut)
		}
		var st []status
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
			t.Fatalf("btfs status --json: %v\n%s", err, out)
		}
		return st[0]
	}
	// waitFor polls the JSON status until ok, for at most 20 s.
	waitFor := func(what string, ok func(status) bool) status {
		t.Helper()
		var st status
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if st = get(); ok(st) {
				return st
			}
		}
		t.Fatalf("status never showed %s: %+v", what, st)
		return st
	}
	st := waitFor("the live tracker announced to and 1 peer", func(st status) bool {
		for _, tr := range st.Trackers {
			if tr.URL == live && len(tr.LastAnnounce) > 0 {
				return st.Peers == 1
			}
		}
		return false
	})

	text, errOut, code := runBtfs(t, "status", dir)
	if code != 0 {
		t.Fatalf("btfs status: exit %d: %s", code, errOut)
	}
	t.Logf("status:\n%s", text)
	tiers := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  tracker    tier (\d+) (\S+): (.*)$`).FindAllStringSubmatch(text, -1) {
		tiers[m[2]] = m[1]
		if m[2] == dead && !strings.HasSuffix(m[3], "last announce never") {
			t.Errorf("the unreachable tracker's line does not end in \"last announce never\": %q", m[0])
		}
		if m[2] == live && strings.Contains(m[3], "never") {
			t.Errorf("the live tracker's line says never: %q", m[0])
		}
	}
	want := map[string]int{live: 1, dead: 2}
	for _, tr := range st.Trackers {
		if tr.Tier != want[tr.URL] || tiers[tr.URL] != strconv.Itoa(tr.Tier) {
			t.Errorf("tracker %s: JSON tier %d, text tier %q, want both %d", tr.URL, tr.Tier, tiers[tr.URL], want[tr.URL])
		}
		if tr.URL == dead && len(tr.LastAnnounce) > 0 {
			t.Errorf("the unreachable tracker has last_announce %s in JSON", tr.LastAnnounce)
		}
	}
	if len(tiers) != 2 || len(st.Trackers) != 2 {
		t.Errorf("want 2 trackers in text and JSON, got %v and %+v", tiers, st.Trackers)
	}
	if !strings.Contains(text, ", 1 peer\n") {
		t.Errorf("text status does not say \"1 peer\":\n%s", text)
	}
	if st.LogFile == "" || !strings.Contains(text, "  log        "+st.LogFile+"\n") {
		t.Errorf("log file %q not shown in the text status", st.LogFile)
	} else if _, err := os.Stat(st.LogFile); err != nil {
		t.Errorf("log file: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := readCtx(ctx, filepath.Join(dir, "st", "f.bin"))
	if err != nil || string(b) != string(c["f.bin"]) {
		t.Fatalf("read through the mount: %v (%d bytes)", err, len(b))
	}
	waitFor("a download rate of 0 after the read", func(st status) bool { return st.DownloadRate == 0 })
	if text, _, _ := runBtfs(t, "status", dir); !strings.Contains(text, "(0 B/s), up") {
		t.Errorf("text status shows a download rate after the transfer ended:\n%s", text)
	}
	if out, errOut, code := runBtfs(t, "unmount", dir); code != 0 {
		t.Fatalf("btfs unmount: exit %d: %s%s", code, out, errOut)
	}
}
