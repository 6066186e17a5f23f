package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// sizeFlag is a byte count written as a number with an optional K, M, G or
// T suffix (powers of 1024); a bare number is in unit bytes.
type sizeFlag struct {
	n    int64
	unit int64
}

func (s *sizeFlag) String() string {
	if s == nil || s.unit == 0 {
		return "0"
	}
	for _, u := range []struct {
		n      int64
		suffix string
	}{{1 << 40, "T"}, {1 << 30, "G"}} {
		if s.n >= u.n && s.n%u.n == 0 && u.n > s.unit {
			return strconv.FormatInt(s.n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(s.n/s.unit, 10)
}

func (s *sizeFlag) Set(v string) error {
	v = strings.TrimSpace(strings.ToUpper(v))
	v = strings.TrimSuffix(strings.TrimSuffix(v, "B"), "I")
	mult := s.unit
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'K':
			mult, v = 1<<10, v[:n-1]
		case 'M':
			mult, v = 1<<20, v[:n-1]
		case 'G':
			mult, v = 1<<30, v[:n-1]
		case 'T':
			mult, v = 1<<40, v[:n-1]
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return fmt.Errorf("size %q: want a number with an optional K/M/G/T suffix", v)
	}
	s.n = int64(f * float64(mult))
	return nil
}

// defaultCacheDir is $XDG_CACHE_HOME/btfs, else ~/.cache/btfs.
func defaultCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "btfs")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "btfs")
	}
	return filepath.Join(os.TempDir(), "btfs-cache")
}
