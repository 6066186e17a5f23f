package integration

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestTorrentFromHTTPURL(t *testing.T) {
	data := t.TempDir()
	writeTree(t, filepath.Join(data, "web"), map[string]int{"w.bin": 50_000})
	tf := filepath.Join(t.TempDir(), "web.torrent")
	if out, err := exec.Command(btfsBin, "create", "-o", tf, filepath.Join(data, "web")).CombinedOutput(); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/web.torrent" {
			http.ServeFile(w, r, tf)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	out, err := exec.Command(btfsBin, "info", srv.URL+"/web.torrent").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "w.bin") || !strings.Contains(string(out), infoHash(t, tf)) {
		t.Fatalf("info over http: %v\n%s", err, out)
	}
	out, err = exec.Command(btfsBin, "info", srv.URL+"/missing.torrent").CombinedOutput()
	if err == nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), "404") {
		t.Fatalf("missing URL: want one error line naming the status, got %v:\n%s", err, out)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	src := writeTree(t, filepath.Join(data, "met"), map[string]int{"m.bin": 1 << 20})
	sw := newSwarm(t, data, filepath.Join(data, "met"), 64, 1)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	_, mnt := mountTorrent(t, sw.torrent, "--metrics", addr)
	readTree(t, filepath.Join(mnt, "met"), src)
	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	body := get("/metrics")
	for _, re := range []string{`btfs_downloaded_bytes_total [1-9]`, `btfs_read_seconds_count [1-9]`, `btfs_pieces 16`, `btfs_read_seconds_bucket\{le="\+Inf"\} [1-9]`} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics lacks %s:\n%s", re, body)
		}
	}
	if !strings.Contains(get("/debug/pprof/"), "goroutine") {
		t.Error("pprof index missing")
	}
}
