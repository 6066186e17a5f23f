package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTerminalProgressAndCtrlC runs `btfs mount -f` in a real terminal
// (tmux): the progress line updates, and Ctrl-C unmounts.
func TestTerminalProgressAndCtrlC(t *testing.T) {
	requireFUSE(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("SKIPPING: tmux is not installed (make test installs it)")
	}
	data := t.TempDir()
	writeTree(t, filepath.Join(data, "tt"), map[string]int{"big.bin": 12 << 20})
	sw := newSwarm(t, data, filepath.Join(data, "tt"), 64, 0)
	s := start(t, "slow-seeder", "seed", "--bind", "127.0.0.1", "--port", "0", "--max-upload-rate", "2000", sw.torrent, data)
	s.waitLine(`^seeding`, 30*time.Second)
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	session := "btfs-test-" + filepath.Base(filepath.Dir(mnt))
	cmdline := strings.Join([]string{btfsBin, "mount", "-f", "--no-dht", "--bind", "127.0.0.1", "--port", "0", "--prefetch", "all",
		"--cache-dir", filepath.Join(t.TempDir(), "c"), sw.torrent, mnt}, " ")
	if out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "10", cmdline).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("tmux", "kill-session", "-t", session).Run()
		exec.Command("fusermount3", "-u", "-z", mnt).Run()
	})
	capture := func() string {
		out, _ := exec.Command("tmux", "capture-pane", "-p", "-t", session).CombinedOutput()
		return string(out)
	}
	for deadline := time.Now().Add(15 * time.Second); !mounted(t, mnt); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not mounted; terminal shows:\n%s", capture())
		}
	}
	progress := regexp.MustCompile(`(\d+) peers?, down .*?, (\d+\.\d)% verified, ETA`)
	var seen []string
	for deadline := time.Now().Add(20 * time.Second); len(seen) < 2; time.Sleep(300 * time.Millisecond) {
		if m := progress.FindStringSubmatch(capture()); m != nil && (len(seen) == 0 || m[2] != seen[len(seen)-1]) && m[2] != "100.0" {
			seen = append(seen, m[2])
		}
		if time.Now().After(deadline) {
			t.Fatalf("progress line did not update (saw %v); terminal:\n%s", seen, capture())
		}
	}
	t.Logf("progress line went %s%% -> %s%%", seen[0], seen[1])
	if out, err := exec.Command("tmux", "send-keys", "-t", session, "C-c").CombinedOutput(); err != nil {
		t.Fatalf("send-keys: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); mounted(t, mnt); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still mounted 10 s after Ctrl-C; terminal:\n%s", capture())
		}
	}
	assertNoStrayProcesses(t, mnt)
}
