package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testUser is a system user the test created, with a temporary home, who
// runs btfs commands through runuser.
type testUser struct {
	t      *testing.T
	name   string
	uid    int
	home   string
	shared string // readable by the user: the btfs binary, torrents
	bin    string
}

// newTestUser creates a user with its home under a new temporary directory
// and a copy of the btfs binary it can run (the one TestMain built sits in
// a directory only root may enter). Cleanup kills what the user left
// running, unmounts what it left mounted, and removes the user and the
// directory.
func newTestUser(t *testing.T) *testUser {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING: creating a user for the test needs root; run the integration tests as root")
	}
	for _, tool := range []string{"useradd", "userdel", "runuser"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPING: %s is not installed (Debian's passwd and util-linux packages provide it)", tool)
		}
	}
	shared, err := os.MkdirTemp("", "btfs-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	u := &testUser{t: t, name: fmt.Sprintf("btfs-it-%06x", rand.Uint32()&0xffffff), home: filepath.Join(shared, "home"), shared: shared}
	if out, err := exec.Command("useradd", "-M", "-d", u.home, "-s", "/bin/sh", u.name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", u.name, err, out)
	}
	t.Cleanup(func() {
		u.cleanup()
		if out, err := exec.Command("userdel", u.name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", u.name, err, out)
		}
	})
	pw, err := user.Lookup(u.name)
	if err != nil {
		t.Fatal(err)
	}
	u.uid, _ = strconv.Atoi(pw.Uid)
	gid, _ := strconv.Atoi(pw.Gid)
	if err := os.Mkdir(u.home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(u.home, u.uid, gid); err != nil {
		t.Fatal(err)
	}
	u.bin = filepath.Join(shared, "btfs")
	b, err := os.ReadFile(btfsBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(u.bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return u
}

// cleanup ends what a failed test left behind: the user's processes (by
// pid) and its mounts.
func (u *testUser) cleanup() {
	for _, pid := range u.procs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], u.shared+"/") {
			_ = exec.Command("fusermount3", "-u", "-z", f[4]).Run()
		}
	}
	os.RemoveAll(u.runtimeDir())
}

// runtimeDir is where the user's mounts put their status sockets: the
// user's environment has no XDG_RUNTIME_DIR.
func (u *testUser) runtimeDir() string { return fmt.Sprintf("/tmp/btfs-%d", u.uid) }

// procs lists the user's processes that are not zombies (an exited mount
// process stays a zombie where the reaper of orphans does not reap).
func (u *testUser) procs() []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var uid, state string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok && len(strings.Fields(v)) > 0 {
				uid = strings.Fields(v)[0]
			}
			if v, ok := strings.CutPrefix(line, "State:"); ok {
				state = strings.TrimSpace(v)
			}
		}
		if uid == strconv.Itoa(u.uid) && !strings.HasPrefix(state, "Z") {
			out = append(out, pid)
		}
	}
	return out
}

// run runs a command as the user, in a clean environment (PATH and HOME
// only, as a login would give), and returns its stdout, stderr and exit
// status.
func (u *testUser) run(name string, args ...string) ([]byte, string, int) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runuser", append([]string{"-u", u.name, "--", "env", "-i",
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + u.home, name}, args...)...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return so.Bytes(), se.String(), ee.ExitCode()
	case err != nil:
		u.t.Fatalf("runuser %s %v: %v", name, args, err)
	}
	return so.Bytes(), se.String(), 0
}

// btfs runs btfs as the user, kept on loopback like every test's btfs.
func (u *testUser) btfs(args ...string) (string, string, int) {
	u.t.Helper()
	so, se, code := u.run(u.bin, offline(args)...)
	return string(so), se, code
}

// setDevFuseMode sets /dev/fuse's mode; the mode it had comes back when
// the test ends.
func setDevFuseMode(t *testing.T, mode os.FileMode) {
	t.Helper()
	st, err := os.Stat("/dev/fuse")
	if err != nil {
		t.Fatal(err)
	}
	old := st.Mode().Perm()
	if err := os.Chmod("/dev/fuse", mode); err != nil {
		t.Fatalf("chmod /dev/fuse: %v", err)
	}
	t.Cleanup(func() {
		if err := os.Chmod("/dev/fuse", old); err != nil {
			t.Errorf("restore /dev/fuse mode %o: %v", old, err)
		}
	})
}

// userAllowOther reports whether /etc/fuse.conf lets users pass allow_other.
func userAllowOther() bool {
	b, _ := os.ReadFile("/etc/fuse.conf")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "user_allow_other" {
			return true
		}
	}
	return false
}

// TestUnprivilegedUser: a user created by the test mounts a torrent that
// root seeds on 127.0.0.1, reads a file byte-identical, sees the mount in
// `btfs status`, unmounts, and nothing is left: no mount, no process, no
// socket. First, with /dev/fuse at 0600 and with --allow-other but no
// user_allow_other, the mount fails with fusermount3's reason and a hint.
func TestUnprivilegedUser(t *testing.T) {
	requireFUSE(t)
	u := newTestUser(t)
	data := t.TempDir()
	c := writeTree(t, filepath.Join(data, "share"), map[string]int{"movie.bin": 3 << 20, "notes.txt": 7000})
	sw := newSwarm(t, data, filepath.Join(data, "share"), 64, 1)
	torrent := filepath.Join(u.shared, "share.torrent")
	b, err := os.ReadFile(sw.torrent)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(torrent, b, 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(u.home, "mnt")
	if _, se, code := u.run("mkdir", mnt); code != 0 {
		t.Fatalf("mkdir %s as %s: %s", mnt, u.name, se)
	}
	mountArgs := []string{"mount", "--bind", "127.0.0.1", "--port", "0", "--log-level", "info"}

	// A failed mount leaves nothing behind either.
	assertClean := func(t *testing.T) {
		t.Helper()
		if mounted(t, mnt) {
			t.Errorf("%s is mounted", mnt)
		}
		if p := u.procs(); len(p) > 0 {
			t.Errorf("processes of %s still running: %v", u.name, p)
		}
		if ents, err := os.ReadDir(u.runtimeDir()); err == nil {
			t.Errorf("%s left behind, holding %d entries", u.runtimeDir(), len(ents))
		}
	}

	t.Run("dev fuse 0600", func(t *testing.T) {
		setDevFuseMode(t, 0o600)
		out, errOut, code := u.btfs(append(mountArgs, torrent, mnt)...)
		checkOneLineError(t, "btfs mount", out, errOut, code, "failed to open /dev/fuse: Permission denied")
		if !strings.Contains(errOut, "check that /dev/fuse is mode 0666") {
			t.Errorf("no hint about /dev/fuse's mode in %q", errOut)
		}
		assertClean(t)
	})

	setDevFuseMode(t, 0o666)

	t.Run("allow-other without user_allow_other", func(t *testing.T) {
		if userAllowOther() {
			t.Skip("SKIPPING: /etc/fuse.conf has user_allow_other, so fusermount3 lets this user pass allow_other")
		}
		out, errOut, code := u.btfs(append(mountArgs, "--allow-other", torrent, mnt)...)
		checkOneLineError(t, "btfs mount --allow-other", out, errOut, code, "allow_other only allowed if 'user_allow_other' is set")
		if !strings.Contains(errOut, "add user_allow_other to /etc/fuse.conf, or drop --allow-other") {
			t.Errorf("no hint about user_allow_other in %q", errOut)
		}
		assertClean(t)
	})

	out, errOut, code := u.btfs(append(mountArgs, torrent, mnt)...)
	if code != 0 || !strings.HasPrefix(out, "mounted share at "+mnt) {
		t.Fatalf("btfs mount as %s: exit %d, stdout %q, stderr %q", u.name, code, out, errOut)
	}
	if !mounted(t, mnt) {
		t.Fatal("btfs mount returned but the mount is not live")
	}
	// Only the user may read its mount (no allow_other): read as the user.
	for _, name := range []string{"movie.bin", "notes.txt"} {
		got, se, code := u.run("cat", filepath.Join(mnt, "share", name))
		if code != 0 {
			t.Fatalf("cat %s as %s: exit %d: %s", name, u.name, code, se)
		}
		if !bytes.Equal(got, c[name]) {
			t.Fatalf("%s read through the user's mount differs from the source (%d bytes, want %d)", name, len(got), len(c[name]))
		}
	}

	text, errOut, code := u.btfs("status")
	if code != 0 || !strings.Contains(text, mnt+": share (pid ") {
		t.Fatalf("btfs status as %s: exit %d, stdout %q, stderr %q", u.name, code, text, errOut)
	}
	js, errOut, code := u.btfs("status", "--json", mnt)
	if code != 0 {
		t.Fatalf("btfs status --json as %s: exit %d: %s", u.name, code, errOut)
	}
	var st []struct {
		PID     int    `json:"pid"`
		LogFile string `json:"log_file"`
	}
	if err := json.Unmarshal([]byte(js), &st); err != nil || len(st) != 1 {
		t.Fatalf("btfs status --json: %v\n%s", err, js)
	}
	if !strings.HasPrefix(st[0].LogFile, filepath.Join(u.home, ".cache", "btfs", "logs")+"/") {
		t.Errorf("log_file %q is not under the user's cache directory", st[0].LogFile)
	}
	if !strings.Contains(text, "  log        "+st[0].LogFile+"\n") {
		t.Errorf("text status does not show the log file %s:\n%s", st[0].LogFile, text)
	}
	t.Logf("status as %s:\n%s", u.name, text)

	if out, errOut, code := u.btfs("unmount", mnt); code != 0 {
		t.Fatalf("btfs unmount as %s: exit %d: %s%s", u.name, code, out, errOut)
	}
	if alive(st[0].PID) {
		t.Errorf("mount process %d still running after btfs unmount returned", st[0].PID)
	}
	assertClean(t)
}
