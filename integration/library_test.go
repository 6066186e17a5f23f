package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// copyFile copies src to dst (a new file).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".part", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".part", dst); err != nil { // appears whole
		t.Fatal(err)
	}
}

// waitPath waits (bounded) until path exists (want true) or not, and
// returns how long that took.
func waitPath(t *testing.T, path string, want bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		_, err := os.Stat(path)
		if (err == nil) == want {
			return time.Since(start)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: exists=%v after 10 s, want %v", path, err == nil, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLibraryMount: a directory of torrents mounted as a library shows a
// multi-file torrent as its directory and a single-file torrent as its
// file, both read byte-identical from their seeders; a .torrent copied in
// appears, one removed disappears; `btfs status` lists each torrent.
func TestLibraryMount(t *testing.T) {
	requireFUSE(t)
	data := t.TempDir()
	srcA := writeTree(t, filepath.Join(data, "album"), map[string]int{"one.flac": 700_000, "cover/front.jpg": 90_000})
	srcB := writeTree(t, filepath.Join(data, "film"), map[string]int{"film.mkv": 1_500_000})
	srcC := writeTree(t, filepath.Join(data, "docs"), map[string]int{"readme.txt": 20_000})
	tfA := makeTorrent(t, filepath.Join(data, "album"), 64)
	tfB := makeTorrent(t, filepath.Join(data, "film"), 64)
	tfC := makeTorrent(t, filepath.Join(data, "docs"), 64)
	var peers []string
	for _, tf := range []string{tfA, tfB, tfC} {
		_, port := seed(t, tf, data)
		peers = append(peers, "--peer", "127.0.0.1:"+port)
	}
	// btfs create names a single-file torrent after its file only for a
	// file root; film/ holds one file, so it is a one-file directory
	// torrent: shown as the directory "film".
	lib := t.TempDir()
	copyFile(t, tfA, filepath.Join(lib, "album.torrent"))
	copyFile(t, tfB, filepath.Join(lib, "film.torrent"))
	if err := os.WriteFile(filepath.Join(lib, "notes.txt"), []byte("not a torrent"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "broken.torrent"), []byte("d4:info"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, mnt := mountTorrent(t, lib, peers...)
	readTree(t, filepath.Join(mnt, "album"), srcA)
	readTree(t, filepath.Join(mnt, "film"), srcB)
	es, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("top level has %d entries, want album and film (the broken torrent and notes.txt left out)", len(es))
	}

	copyFile(t, tfC, filepath.Join(lib, "docs.torrent"))
	t.Logf("added torrent shown after %v", waitPath(t, filepath.Join(mnt, "docs"), true))
	readTree(t, filepath.Join(mnt, "docs"), srcC)
	if err := os.Remove(filepath.Join(lib, "album.torrent")); err != nil {
		t.Fatal(err)
	}
	t.Logf("removed torrent gone after %v", waitPath(t, filepath.Join(mnt, "album"), false))
	got, err := os.ReadFile(filepath.Join(mnt, "film", "film.mkv"))
	if err != nil || !bytes.Equal(got, srcB["film.mkv"]) {
		t.Fatalf("film after the removal of another torrent: %v", err)
	}

	st := statusJSON(t, mnt)
	if len(st) != 1 || len(st[0].Library) != 2 {
		t.Fatalf("status: %+v, want one library mount with two torrents", st)
	}
	for _, e := range st[0].Library {
		if e.Name != "docs" && e.Name != "film" || e.Pieces == 0 || e.InfoHash == "" {
			t.Errorf("library entry %+v", e)
		}
	}
}

// TestLibraryBlockedReadInStatus: a read blocked on a torrent of a library
// shows in `btfs status` with its path below the mount.
func TestLibraryBlockedReadInStatus(t *testing.T) {
	requireFUSE(t)
	torrent, rel := unseeded(t) // lonely/f.bin, nobody seeds it
	lib := t.TempDir()
	copyFile(t, torrent, filepath.Join(lib, "lonely.torrent"))
	m, mnt := mountTorrent(t, lib)
	dd := exec.Command("dd", "if="+filepath.Join(mnt, rel), "of=/dev/null", "bs=4096", "count=1", "skip=32", "iflag=direct")
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	ddDone := make(chan error, 1)
	go func() { ddDone <- dd.Wait() }()
	// An O_DIRECT read cannot be killed while it waits: the mount goes
	// first, which fails it.
	t.Cleanup(func() {
		m.stop(syscall.SIGTERM, 10*time.Second)
		_ = dd.Process.Kill()
		<-ddDone
	})
	st := waitStall(t, mnt, "one blocked read", func(st stallStatus) bool { return len(st.BlockedReads) == 1 })
	if b := st.BlockedReads[0]; b.Path != rel || b.Offset != 32*4096 || b.Piece != 2 {
		t.Fatalf("blocked read %+v, want %s at %d, piece 2", b, rel, 32*4096)
	}
}
