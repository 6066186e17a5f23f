package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCacheCommandWhileMounted: while a mount holds the disk cache, `btfs
// cache` lists the torrent being read (what the mount last committed), and
// `btfs cache clear --all` refuses with the way out instead of a bare
// "in use".
func TestCacheCommandWhileMounted(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	src := writeTree(t, filepath.Join(data, "held"), map[string]int{"a.bin": 400_000})
	tf := makeTorrent(t, filepath.Join(data, "held"), 64)
	_, port := seed(t, tf, data)
	cache := filepath.Join(t.TempDir(), "cache")
	_, mnt := mountTorrent(t, tf, "--cache-dir", cache, "--peer", "127.0.0.1:"+port)
	readTree(t, filepath.Join(mnt, "held"), src)
	var out string
	waitFor := func() bool {
		var code int
		out, _, code = runBtfs(t, "cache", "--cache-dir", cache)
		return code == 0 && strings.Contains(out, "held") && strings.Contains(out, "7/7")
	}
	ok := false
	for range 50 { // commits run every 200 ms
		if ok = waitFor(); ok {
			break
		}
		if _, err := os.Stat(mnt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("btfs cache while mounted:\n%s", out)
	}
	_, errOut, code := runBtfs(t, "cache", "clear", "--all", "--cache-dir", cache)
	if code == 0 || !strings.Contains(errOut, "in use by a btfs mount") || !strings.Contains(errOut, "unmount") {
		t.Fatalf("btfs cache clear while mounted: exit %d: %s", code, errOut)
	}
}
