package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotatingLogStaysBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.log")
	r, err := newRotatingLog(p, 1000)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 99) + "\n"
	for range 100 { // 10 kB through a 1 kB log
		if _, err := r.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{p, p + ".1"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 1000 {
			t.Fatalf("%s is %d bytes, over the 1000-byte bound", f, st.Size())
		}
	}
}

func TestSizeFlag(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"256", 256 << 20, true}, {"10G", 10 << 30, true}, {"1.5k", 1536, true}, {"2MiB", 2 << 20, true},
		{"0", 0, true}, {"-1", 0, false}, {"lots", 0, false},
	} {
		s := sizeFlag{unit: 1 << 20}
		err := s.Set(tt.in)
		if (err == nil) != tt.ok || tt.ok && s.n != tt.want {
			t.Errorf("%q: n=%d err=%v, want %d ok=%v", tt.in, s.n, err, tt.want, tt.ok)
		}
	}
}
