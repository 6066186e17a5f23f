package main

import (
	"os"
	"sync"
)

// rotatingLog appends to a file and, once it passes max bytes, renames it
// to path.1 (replacing the previous one) and starts a new file: a mount's
// log never grows past about 2 x max on disk.
type rotatingLog struct {
	// mu separates the goroutines that log.
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

func newRotatingLog(path string, max int64) (*rotatingLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rotatingLog{path: path, max: max, f: f, size: st.Size()}, nil
}

func (r *rotatingLog) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size+int64(len(p)) > r.max {
		if err := os.Rename(r.path, r.path+".1"); err == nil {
			if f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
				r.f.Close()
				r.f, r.size = f, 0
			}
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// Close closes the file.
func (r *rotatingLog) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Close()
}
