package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	btfs "github.com/btfs/btfs/fs"
)

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mount"}, "btfs mount: missing TORRENT|MAGNET|DIR MOUNTPOINT\nusage: btfs mount [flags] TORRENT|MAGNET|DIR MOUNTPOINT\nTry 'btfs mount --help' for more.\n"},
		{[]string{"unmount", "--nope", "/x"}, "btfs unmount: unknown flag --nope\n"},
		{[]string{"status", "--json=maybe"}, `btfs status: invalid value "maybe" for --json`},
		{[]string{"info", "--metadata-timeout"}, "btfs info: flag --metadata-timeout needs a value\n"},
		{[]string{"create", "-o"}, "btfs create: flag -o needs a value\n"},
		{[]string{"cache", "clear"}, "btfs cache: unexpected arguments \"clear\"\nusage: btfs cache"},
		{[]string{"frobnicate"}, "btfs: unknown command \"frobnicate\"\nusage: btfs COMMAND"},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if !strings.HasPrefix(errOut.String(), tc.want) {
			t.Errorf("%v: stderr\n%s\nwant it to start with\n%s", tc.args, errOut.String(), tc.want)
		}
		if out.Len() > 0 {
			t.Errorf("%v: stdout %q", tc.args, out.String())
		}
	}
}

func TestHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"mount", "--help"}, &out, &errOut); code != 0 || errOut.Len() > 0 {
		t.Fatalf("mount --help: exit %d, stderr %q", code, errOut.String())
	}
	help := out.String()
	for _, want := range []string{
		"Usage: btfs mount [flags] TORRENT|MAGNET|DIR MOUNTPOINT\n",
		"\n  -f, --foreground ",
		"\n      --port N ",
		"\n      --cache-size SIZE ",
		"(default 10G)",
		"\n  -o OPTIONS ",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("mount --help lacks %q:\n%s", want, help)
		}
	}
	for _, hidden := range []string{"--keep", "--cpuprofile", "--data-directory", "--utp ", "same as"} {
		if strings.Contains(help, hidden) {
			t.Errorf("mount --help shows %q", hidden)
		}
	}
	for _, line := range strings.Split(help, "\n") {
		if len(line) > 80 && !strings.Contains(line, "router.bittorrent.com") {
			t.Errorf("line longer than 80 columns: %q", line)
		}
	}
}

func TestHiddenFlagsStillWork(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	keep := fs.Bool("keep", true, "")
	prof := fs.String("cpuprofile", "", "")
	hide(fs, "keep", "cpuprofile")
	pos, err := parseArgs(fs, []string{"a", "-keep=false", "--cpuprofile", "p.out", "b", "--keep"}, "btfs x", "")
	if err != nil {
		t.Fatal(err)
	}
	if !*keep || *prof != "p.out" || strings.Join(pos, " ") != "a b" {
		t.Errorf("keep %v, cpuprofile %q, positional %q", *keep, *prof, pos)
	}
	if h := flagHelp(fs); h != "" {
		t.Errorf("help of hidden flags only: %q", h)
	}
}

func TestMountHint(t *testing.T) {
	devFuse := &btfs.HelperError{Lines: []string{"fusermount3: failed to open /dev/fuse: Permission denied"}, Err: errors.New("fusermount: exit status 1")}
	allowOther := &btfs.HelperError{Lines: []string{"fusermount3: option allow_other only allowed if 'user_allow_other' is set in /etc/fuse.conf"}, Err: errors.New("fusermount: exit status 1")}
	for _, tc := range []struct {
		err        error
		allowOther bool
		want       string
	}{
		{devFuse, false, "fusermount3: failed to open /dev/fuse: Permission denied; " + hintDevFuse},
		{allowOther, true, "in /etc/fuse.conf; " + hintAllowOther},
		{errors.New("mount /x: something else"), false, "mount /x: something else"},
	} {
		got := mountHint(tc.err, tc.allowOther)
		if !strings.HasSuffix(got.Error(), tc.want) {
			t.Errorf("%v: got %q, want it to end in %q", tc.err, got, tc.want)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%v: the hint does not wrap the error", tc.err)
		}
	}
}

func TestCheckEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := checkEmpty(dir); err != nil {
		t.Fatalf("empty directory: %v", err)
	}
	if err := checkEmpty(filepath.Join(dir, "missing")); err != nil {
		t.Fatalf("a missing directory is for the mount to report: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := checkEmpty(dir)
	if err == nil || !strings.Contains(err.Error(), "--allow-non-empty") {
		t.Fatalf("non-empty directory: %v", err)
	}
}

func TestTrackerLine(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := now.Add(-12 * time.Second)
	for _, tc := range []struct {
		tr   trackerStatus
		want string
	}{
		{trackerStatus{URL: "http://a/announce", Tier: 1, LastAnnounce: &at, Peers: 1}, "tier 1 http://a/announce: ok, 1 peer, last announce 12s ago"},
		{trackerStatus{URL: "http://b/announce", Tier: 2, LastError: "connection refused"}, "tier 2 http://b/announce: connection refused, 0 peers, last announce never"},
		{trackerStatus{URL: "http://c/announce", Tier: 1}, "tier 1 http://c/announce: not announced yet, 0 peers, last announce never"},
	} {
		if got := trackerLine(tc.tr, now); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

func TestRatesFallToZero(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s []rateSample
	add := func(down, up int64) {
		s = append(s, rateSample{at: t0.Add(time.Duration(len(s)) * time.Second), down: down, up: up})
		if len(s) > 6 {
			s = s[1:]
		}
	}
	for i := range 6 {
		add(int64(i)*1000, int64(i)*10)
	}
	if d, u := ratesOf(s); d != 1000 || u != 10 {
		t.Fatalf("steady transfer: %v down, %v up; want 1000, 10", d, u)
	}
	// The transfer ends; the sampler goes on adding the same counters.
	add(5000, 50)
	if d, _ := ratesOf(s); d == 0 {
		t.Errorf("one idle second already reads as 0")
	}
	add(5000, 50)
	if d, u := ratesOf(s); d != 0 || u != 0 {
		t.Errorf("two idle seconds: %v down, %v up; want 0", d, u)
	}
}
