package hasher

import (
	"context"
	"crypto/sha1"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestVerdicts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := New(ctx, 3)
	defer func() { cancel(); p.Wait() }()

	good := []byte("piece data")
	want := sha1.Sum(good)
	const n = 20
	go func() {
		for i := range n {
			d := good
			if i%2 == 1 {
				d = []byte("corrupted!")
			}
			p.In() <- Job{Piece: i, Data: d, Want: want}
		}
	}()
	seen := map[int]bool{}
	for range n {
		r := <-p.Out()
		if r.OK != (r.Piece%2 == 0) {
			t.Errorf("piece %d: ok=%v", r.Piece, r.OK)
		}
		seen[r.Piece] = true
	}
	if len(seen) != n {
		t.Fatalf("got %d distinct verdicts, want %d", len(seen), n)
	}
}

func BenchmarkHash1MiB(b *testing.B) {
	data := make([]byte, 1<<20)
	want := sha1.Sum(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if sha1.Sum(data) != want {
			b.Fatal("mismatch")
		}
	}
}
