package wire

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// addSeeds adds every file in testdata/dir to the fuzz corpus.
func addSeeds(f *testing.F, dir string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.bin"))
	if err != nil {
		f.Fatal(err)
	}
	if len(paths) == 0 {
		f.Fatalf("no seeds in testdata/%s", dir)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecode(f *testing.F) {
	addSeeds(f, "messages")
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 1})
	f.Add(AppendRequest(nil, Reject, 1, 2, MaxBlockLen+1))
	lims := []Limits{{}, {MaxBitfield: 2, MaxExtended: 8, MaxUnknown: 4}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range lims {
			m, err := Decode(data, lim)
			if err == nil {
				out, err := m.AppendBinary(nil)
				if err != nil {
					t.Fatalf("re-encode %+v: %v", m, err)
				}
				if !bytes.Equal(out, data) {
					t.Fatalf("re-encoded %x, decoded from %x", out, data)
				}
			}

			// The Reader must agree with Decode on a single message and
			// never panic on a stream.
			r := NewReader(bytes.NewReader(data), lim)
			rm, rerr := r.Read()
			if err == nil {
				if rerr != nil {
					t.Fatalf("Decode ok, Reader.Read: %v", rerr)
				}
				out, _ := rm.AppendBinary(nil)
				if !bytes.Equal(out, data) {
					t.Fatalf("Reader decoded %+v from %x", rm, data)
				}
				if _, err := r.Read(); err != io.EOF {
					t.Fatalf("after the only message: %v, want io.EOF", err)
				}
			}
			for rerr == nil {
				_, rerr = r.Read()
			}
			if cap(r.buf) > r.maxLen-1 {
				t.Fatalf("buffer %d bytes, past max body %d", cap(r.buf), r.maxLen-1)
			}
		}
	})
}

func FuzzReadHandshake(f *testing.F) {
	addSeeds(f, "handshakes")
	f.Add([]byte{})
	f.Add([]byte{19})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadHandshake(bytes.NewReader(data))
		if err != nil {
			return
		}
		out, err := h.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data[:HandshakeLen]) {
			t.Fatalf("re-encoded %x, read from %x", out, data[:HandshakeLen])
		}
	})
}
