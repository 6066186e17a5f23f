package cache

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
)

func key(i int) Key { return Key{InfoHash: [20]byte{1}, Piece: i} }

func TestByteBoundAndLRU(t *testing.T) {
	s := New(300)
	for i := range 3 {
		s.Put(key(i), bytes.Repeat([]byte{byte(i)}, 100))
	}
	b, ok := s.Acquire(key(0)) // 0 is now most recent
	if !ok {
		t.Fatal("piece 0 missing")
	}
	b.Unref()
	s.Put(key(3), make([]byte, 100)) // evicts 1, the least recent
	if s.Contains(key(1)) {
		t.Fatal("piece 1 should have been evicted")
	}
	for _, i := range []int{0, 2, 3} {
		if !s.Contains(key(i)) {
			t.Fatalf("piece %d evicted", i)
		}
	}
	if s.Bytes() != 300 || s.Len() != 3 {
		t.Fatalf("bytes=%d len=%d", s.Bytes(), s.Len())
	}
	s.Put(key(4), make([]byte, 250)) // needs three evictions
	if s.Bytes() != 250 || s.Len() != 1 {
		t.Fatalf("after big put: bytes=%d len=%d", s.Bytes(), s.Len())
	}
	s.Put(key(5), make([]byte, 301)) // larger than the budget: not kept
	if s.Contains(key(5)) || s.Bytes() != 250 {
		t.Fatal("oversized piece kept")
	}
	s.Put(key(4), make([]byte, 10)) // replace accounts bytes
	if s.Bytes() != 10 {
		t.Fatalf("replace: bytes=%d", s.Bytes())
	}
	s.Remove(key(4))
	if s.Bytes() != 0 || s.Len() != 0 {
		t.Fatalf("remove: bytes=%d len=%d", s.Bytes(), s.Len())
	}
}

func TestTorrentsDoNotCollide(t *testing.T) {
	s := New(1 << 20)
	a, b := Key{InfoHash: [20]byte{1}, Piece: 7}, Key{InfoHash: [20]byte{2}, Piece: 7}
	s.Put(a, []byte("a"))
	s.Put(b, []byte("b"))
	v := make([]byte, 1)
	if !s.ReadAt(a, 0, v) || string(v) != "a" {
		t.Fatalf("a = %q", v)
	}
}

func TestConcurrent(t *testing.T) {
	s := New(64 * 1024)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				k := key(g*1000 + i%50)
				s.Put(k, make([]byte, 1024))
				if b, ok := s.Acquire(k); ok {
					b.Unref()
				}
			}
		})
	}
	wg.Wait()
	if s.Bytes() > 64*1024 {
		t.Fatalf("over budget: %d", s.Bytes())
	}
}

func BenchmarkGetPut(b *testing.B) {
	s := New(256 << 20)
	data := make([]byte, 1<<20)
	for i := range 256 {
		s.Put(key(i), data)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d, ok := s.Acquire(key(i % 256))
		if !ok {
			b.Fatal(fmt.Sprint("miss ", i))
		}
		d.Unref()
		i++
	}
}

// TestReservationsShareTheBudget: reserved bytes count against the budget
// (reserving evicts held pieces), PutReserved turns a reservation into the
// held piece, Release gives it back, and watchers hear of every piece that
// leaves, but not of a piece replaced by Put.
func TestReservationsShareTheBudget(t *testing.T) {
	s := New(400)
	var gone []int
	stop := s.Watch(key(0).InfoHash, func(p int) { gone = append(gone, p) })
	for i := range 4 {
		s.Put(key(i), make([]byte, 100))
	}
	s.Reserve(150) // evicts 0 and 1, the least recent
	if s.Bytes() != 200 || s.Reserved() != 150 || !slices.Equal(gone, []int{0, 1}) {
		t.Fatalf("after reserving: held %d reserved %d gone %v", s.Bytes(), s.Reserved(), gone)
	}
	nine := NewBuf(make([]byte, 100))
	s.PutBuf(key(9), nine, true) // 100 of the 150 become piece 9
	nine.Unref()
	if s.Bytes() != 300 || s.Reserved() != 50 || !s.Contains(key(9)) {
		t.Fatalf("after PutReserved: held %d reserved %d", s.Bytes(), s.Reserved())
	}
	s.Put(key(9), make([]byte, 100)) // replaced, not evicted
	if !slices.Equal(gone, []int{0, 1}) {
		t.Fatalf("a replaced piece was reported gone: %v", gone)
	}
	s.Release(50)
	if s.Reserved() != 0 {
		t.Fatalf("reserved %d after release", s.Reserved())
	}
	s.Remove(key(2))
	stop()
	s.Remove(key(3))
	if !slices.Equal(gone, []int{0, 1, 2}) {
		t.Fatalf("gone = %v, want 0 1 2 (3 left after stop)", gone)
	}
	s.Reserve(1000) // more than the budget: everything goes, it still counts
	if s.Bytes() != 0 || s.Reserved() != 1000 {
		t.Fatalf("held %d reserved %d", s.Bytes(), s.Reserved())
	}
}

// TestBuffersRecycleOnlyWhenUnreferenced: a pooled piece buffer evicted
// from the store comes back from the pool only once every reference is
// gone; until then its bytes stay as they were.
func TestBuffersRecycleOnlyWhenUnreferenced(t *testing.T) {
	s := New(800) // keeps up to 100 free bytes: one buffer
	b := s.Pool().Get(100)
	copy(b.Bytes(), bytes.Repeat([]byte{7}, 100))
	s.PutBuf(key(0), b, false)
	b.Unref()                     // the store's reference remains
	held, ok := s.Acquire(key(0)) // a reader's
	if !ok {
		t.Fatal("piece 0 not held")
	}
	for i := 1; i <= 8; i++ {
		s.Put(key(i), make([]byte, 100)) // the last evicts 0
	}
	if s.Contains(key(0)) {
		t.Fatal("piece 0 not evicted")
	}
	fresh := s.Pool().Get(100)
	if &fresh.Bytes()[0] == &held.Bytes()[0] {
		t.Fatal("a buffer a reader still holds was handed out again")
	}
	if !bytes.Equal(held.Bytes(), bytes.Repeat([]byte{7}, 100)) {
		t.Fatal("held bytes changed")
	}
	held.Unref() // last reference: back to the pool
	again := s.Pool().Get(100)
	if &again.Bytes()[0] != &held.Bytes()[0] || s.Pool().Reused() != 1 {
		t.Fatalf("released buffer not reused (reused %d)", s.Pool().Reused())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a double release went unnoticed")
		}
	}()
	held.Unref()
}
