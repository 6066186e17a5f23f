package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Hints for the ways a mount commonly fails, after fusermount3's words.
const (
	hintDevFuse    = "check that /dev/fuse is mode 0666 (Debian's fuse3 sets it) or run as root"
	hintAllowOther = "add user_allow_other to /etc/fuse.conf, or drop --allow-other"
	hintNoHelper   = "install fuse3 (apt-get install fuse3), which provides fusermount3"
)

// mountHint adds to a failed mount's error the way out, where the cause is
// one we know.
func mountHint(err error, allowOther bool) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "/dev/fuse") && (strings.Contains(msg, "Permission denied") || strings.Contains(msg, "Operation not permitted")):
		return fmt.Errorf("%w; %s", err, hintDevFuse)
	case strings.Contains(msg, "user_allow_other") && allowOther:
		return fmt.Errorf("%w; %s", err, hintAllowOther)
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("%w; %s", err, hintNoHelper)
	}
	return err
}

// checkEmpty refuses a mountpoint that holds anything: the mount would hide
// it without a word. Whatever else is wrong with dir (missing, not a
// directory, not ours to list, already mounted) is for the checks and the
// mount that follow to say.
func checkEmpty(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	if _, ok := findMount(abs); ok {
		return nil
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil || len(names) == 0 {
		return nil
	}
	return fmt.Errorf("mountpoint %s is not empty (it holds %q...): the mount would hide its contents; use an empty directory, or --allow-non-empty to mount over it", abs, names[0])
}
