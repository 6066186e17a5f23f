package integration

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
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
