package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSequentialReadWastesNoBandwidth: a sequential read of a file through
// a mount with default flags makes four libtorrent seeders send at most
// 1.1x the file (counted from the seeders' side): a block is asked of a
// second peer only when that buys time, never as a matter of course.
func TestSequentialReadWastesNoBandwidth(t *testing.T) {
	requireFUSE(t)
	requireLibtorrent(t)
	data := t.TempDir()
	root := filepath.Join(data, "seq")
	const size = 64 << 20
	src := writeTree(t, root, map[string]int{"movie.bin": size})
	tf := makeTorrent(t, root, 256)
	var seeders []*proc
	var args []string
	for i := range 4 {
		s := startProg(t, fmt.Sprintf("libtorrent seeder %d", i), debianPython, "-u", script(t, "lt_seed.py"), tf, data)
		port := s.waitLine(`^seeding .* on port (\d+)$`, 30*time.Second)[1]
		seeders = append(seeders, s)
		args = append(args, "--peer", "127.0.0.1:"+port)
	}
	m, mnt := mountTorrent(t, tf, args...)
	// cp, as a user copies: 128 KiB reads that the kernel's readahead
	// sends slightly out of order.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dst := filepath.Join(t.TempDir(), "copy.bin")
	if out, err := exec.CommandContext(ctx, "cp", filepath.Join(mnt, "seq", "movie.bin"), dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(src["movie.bin"]) {
		t.Fatal("movie.bin read through the mount differs from the source")
	}
	unmount(t, m)
	var sent int64
	for _, s := range seeders {
		stopSeeder(t, s)
		var up int64
		if _, err := fmt.Sscanf(lastLine(s), "stopped: uploaded %d payload bytes", &up); err != nil {
			t.Fatalf("%s: %q", s.name, lastLine(s))
		}
		sent += up
	}
	ratio := float64(sent) / size
	t.Logf("seeders sent %d bytes for a %d-byte file: %.3fx", sent, size, ratio)
	if ratio > 1.1 {
		t.Errorf("seeders sent %.3fx the file, want <= 1.1x", ratio)
	}
}
