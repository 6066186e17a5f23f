package dht

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSaveLoadNodes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nodes")
	if got, err := LoadNodes(path); got != nil || err != nil {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	want := []netip.AddrPort{ap("10.0.0.1:6881"), ap("[2001:db8::1]:6881"), ap("127.0.0.1:1")}
	if err := SaveNodes(path, append(slices.Clone(want), netip.AddrPortFrom(want[0].Addr(), 0))); err != nil {
		t.Fatal(err)
	}
	got, err := LoadNodes(path)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("LoadNodes = %v, %v; want %v", got, err, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	// Garbage lines are skipped, and at most 1000 entries are read.
	var b strings.Builder
	b.WriteString("junk\n\n1.2.3.4\n1.2.3.4:0\n[::1\n")
	for i := range 1500 {
		fmt.Fprintf(&b, "10.%d.%d.1:%d\n", i>>8, i&255, 1000+i)
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
	got, err = LoadNodes(path)
	if err != nil || len(got) != maxLoadNodes || got[0] != ap("10.0.0.1:1000") {
		t.Errorf("LoadNodes of a large file: %d entries, %v", len(got), err)
	}
	// Only the first 64 KiB are read.
	os.WriteFile(path, []byte("10.0.0.1:1\n"+strings.Repeat("x", 100<<10)+"\n10.0.0.2:2\n"), 0o644)
	if got, _ := LoadNodes(path); len(got) != 1 {
		t.Errorf("huge line: %v", got)
	}
	if err := SaveNodes(filepath.Join(dir, "missing", "nodes"), want); err == nil {
		t.Error("SaveNodes into a missing directory succeeded")
	}
}
