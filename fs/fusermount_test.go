package fs

import (
	"errors"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFuseMountHelperError: when fusermount3 fails, fuseMount returns what
// it printed (bazil.org/fuse only logs it), and the standard logger's
// output is left as it was. A stand-in fusermount3 plays the failure.
func TestFuseMountHelperError(t *testing.T) {
	bin := t.TempDir()
	const msg = "fusermount3: failed to open /dev/fuse: Permission denied"
	script := "#!/bin/sh\necho '" + msg + "' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "fusermount3"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	before := log.Writer()
	var logged strings.Builder
	log.SetOutput(&logged)
	defer log.SetOutput(before)

	_, err := fuseMount(t.TempDir())
	var he *HelperError
	if !errors.As(err, &he) {
		t.Fatalf("err = %v (%T), want a *HelperError", err, err)
	}
	if he.Error() != msg || he.Err == nil {
		t.Errorf("HelperError %q (wrapping %v), want %q", he.Error(), he.Err, msg)
	}
	if log.Writer() != &logged {
		t.Error("fuseMount did not give the standard logger its output back")
	}
	if !strings.Contains(logged.String(), msg) {
		t.Errorf("the helper's line did not reach the log: %q", logged.String())
	}
}
