package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// installMountHelper puts scripts/mount.fuse.btfs, pointing at the binary
// under test, where mount(8) looks for it; it restores what was there.
func installMountHelper(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("mount"); err != nil {
		t.Skip("SKIPPING: mount(8) is missing")
	}
	src, err := os.ReadFile("../scripts/mount.fuse.btfs")
	if err != nil {
		t.Fatal(err)
	}
	const dst = "/sbin/mount.fuse.btfs"
	old, oldErr := os.ReadFile(dst)
	if err := os.WriteFile(dst, []byte(strings.ReplaceAll(string(src), "@BTFS@", btfsBin)), 0o755); err != nil {
		t.Skipf("SKIPPING: cannot install %s (not root?): %v", dst, err)
	}
	t.Cleanup(func() {
		if oldErr == nil {
			os.WriteFile(dst, old, 0o755)
		} else {
			os.Remove(dst)
		}
	})
}

func TestMountTypeFuseBtfsAndFstab(t *testing.T) {
	requireFUSE(t)
	installMountHelper(t)
	data := t.TempDir()
	src := writeTree(t, filepath.Join(data, "fst"), map[string]int{"a.bin": 300_000})
	sw := newSwarm(t, data, filepath.Join(data, "fst"), 64, 1)
	check := func(mnt string) {
		t.Helper()
		if !mounted(t, mnt) {
			t.Fatalf("%s is not mounted", mnt)
		}
		readTree(t, filepath.Join(mnt, "fst"), src)
		out, err := exec.Command(btfsBin, "unmount", mnt).CombinedOutput()
		if err != nil {
			t.Fatalf("btfs unmount: %v\n%s", err, out)
		}
		for deadline := time.Now().Add(10 * time.Second); mounted(t, mnt); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s still mounted", mnt)
			}
		}
	}
	opts := "bind_address=127.0.0.1,port=0,no_dht,nofail,cache_dir=" + filepath.Join(t.TempDir(), "c")

	mnt := filepath.Join(t.TempDir(), "m1")
	os.Mkdir(mnt, 0o755)
	t.Cleanup(func() { exec.Command("fusermount3", "-u", "-z", mnt).Run() })
	if out, err := exec.Command("mount", "-t", "fuse.btfs", sw.torrent, mnt, "-o", opts).CombinedOutput(); err != nil {
		t.Fatalf("mount -t fuse.btfs: %v\n%s", err, out)
	}
	check(mnt)

	mnt2 := filepath.Join(t.TempDir(), "m2")
	os.Mkdir(mnt2, 0o755)
	t.Cleanup(func() { exec.Command("fusermount3", "-u", "-z", mnt2).Run() })
	fstab := filepath.Join(t.TempDir(), "fstab")
	line := sw.torrent + " " + mnt2 + " fuse.btfs " + opts + " 0 0\n"
	if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-T", fstab, mnt2).CombinedOutput(); err != nil {
		t.Fatalf("mount with an fstab line: %v\n%s", err, out)
	}
	check(mnt2)

	// A magnet link as the fstab source: the metadata comes from the
	// seeder found through the magnet's tracker (a fresh cache dir).
	mnt3 := filepath.Join(t.TempDir(), "m3")
	os.Mkdir(mnt3, 0o755)
	t.Cleanup(func() { exec.Command("fusermount3", "-u", "-z", mnt3).Run() })
	opts3 := "bind_address=127.0.0.1,port=0,no_dht,metadata_timeout=30s,cache_dir=" + filepath.Join(t.TempDir(), "c3")
	line = magnetOf(t, sw.torrent) + " " + mnt3 + " fuse.btfs " + opts3 + " 0 0\n"
	if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-T", fstab, mnt3).CombinedOutput(); err != nil {
		t.Fatalf("mount with a magnet fstab line: %v\n%s", err, out)
	}
	check(mnt3)
}
