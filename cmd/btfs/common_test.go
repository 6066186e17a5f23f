package main

import (
	"flag"
	"io"
	"testing"

	"github.com/btfs/btfs/swarm"
)

// TestTransportFlags: --encryption and --no-utp (or --utp=false) reach the
// engine's config; the defaults are prefer and uTP on; a bad mode is a
// usage error.
func TestTransportFlags(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		enc   swarm.Encryption
		noUTP bool
	}{
		{nil, swarm.EncPrefer, false},
		{[]string{"--encryption", "require"}, swarm.EncRequire, false},
		{[]string{"--encryption=off", "--no-utp"}, swarm.EncOff, true},
		{[]string{"--utp=false"}, swarm.EncPrefer, true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var nf netFlags
		nf.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if cfg := nf.config(); cfg.Encryption != tc.enc || cfg.NoUTP != tc.noUTP {
			t.Errorf("%v: encryption %v, noUTP %v; want %v, %v", tc.args, cfg.Encryption, cfg.NoUTP, tc.enc, tc.noUTP)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var nf netFlags
	nf.register(fs)
	if err := fs.Parse([]string{"--encryption", "sometimes"}); err == nil {
		t.Error("--encryption sometimes was accepted")
	}
}
