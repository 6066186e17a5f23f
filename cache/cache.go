// Package cache holds verified pieces. Store is the memory tier: an LRU
// bounded in bytes, keyed by info-hash and piece index (never by file
// names). The disk tier comes in its own package.
package cache

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Key names one piece of one torrent.
type Key struct {
	InfoHash [20]byte
	Piece    int
}

// Store is a byte-bounded LRU of verified pieces, safe for concurrent use.
// Stored bytes are immutable: callers must not modify what they Put. A
// piece leaves the store with its reference dropped, so its buffer may be
// reused at once: bytes are read either under the store's lock (ReadAt) or
// with a reference of the reader's own (Acquire).
//
// Its budget is the process's one byte budget for piece data: besides the
// pieces it holds it counts reservations, the buffers of pieces being
// downloaded, hashed or stored (see Reserve). Reserving evicts held pieces
// to make room, so held + reserved stays within the budget.
type Store struct {
	// mu guards everything below; it separates the torrent loops (Put,
	// Reserve), the FUSE read goroutines and the peer writers (Get).
	mu       sync.Mutex
	lru      *simplelru.LRU[Key, *Buf]
	bytes    int64
	reserved int64
	max      int64
	// watchers learn of the pieces of their torrent that leave the store.
	watchers map[[20]byte]func(piece int)
	putting  Key // the key Put replaces: not reported as evicted
	pool     *Pool
}

// New returns a Store that keeps at most maxBytes of piece data.
func New(maxBytes int64) *Store {
	s := &Store{
		max: maxBytes, watchers: map[[20]byte]func(int){}, putting: Key{Piece: -1},
		// Free buffers kept: enough for a burst of evictions to feed the
		// downloads that caused them, bounded so they cost little memory.
		pool: NewPool(min(64<<20, maxBytes/8)),
	}
	// The count bound is never the binding one: bytes are.
	l, err := simplelru.NewLRU[Key, *Buf](1<<30, s.evicted)
	if err != nil {
		panic(err) // only for a non-positive size, which 1<<30 is not
	}
	s.lru = l
	return s
}

// evicted is the LRU's callback for every entry leaving it (mu held).
func (s *Store) evicted(k Key, v *Buf) {
	s.bytes -= int64(len(v.b))
	v.Unref()
	if k == s.putting {
		return
	}
	if f := s.watchers[k.InfoHash]; f != nil {
		f(k.Piece)
	}
}

// Watch makes f learn of every piece of torrent ih that leaves the store
// (evicted or removed) until the returned stop is called. f is called with
// the store's lock held: it must return at once and not call the store.
func (s *Store) Watch(ih [20]byte, f func(piece int)) (stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers[ih] = f
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.watchers, ih)
	}
}

// Pool returns the store's pool of piece buffers.
func (s *Store) Pool() *Pool { return s.pool }

// Put stores a verified piece, evicting least recently used pieces to stay
// within the byte budget. A piece larger than the whole budget is not kept.
func (s *Store) Put(k Key, data []byte) {
	b := NewBuf(data)
	s.PutBuf(k, b, false)
	b.Unref()
}

// PutBuf stores a verified piece, taking a reference of its own to b.
// With reserved, the piece's bytes were reserved (Reserve) and the
// reservation becomes the held piece, in one step.
func (s *Store) PutBuf(k Key, b *Buf, reserved bool) {
	n := int64(len(b.b))
	s.mu.Lock()
	defer s.mu.Unlock()
	if reserved {
		s.reserved = max(0, s.reserved-n)
	}
	if n > s.max {
		return
	}
	s.putting = k
	s.lru.Remove(k)
	s.putting = Key{Piece: -1}
	s.makeRoomLocked(n)
	s.lru.Add(k, b.Ref())
	s.bytes += n
}

// makeRoomLocked evicts least recently used pieces until n more bytes fit
// beside what is held and reserved, or nothing is left to evict.
func (s *Store) makeRoomLocked(n int64) {
	for s.bytes+s.reserved+n > s.max {
		if _, _, ok := s.lru.RemoveOldest(); !ok {
			return
		}
	}
}

// Reserve counts n bytes of piece buffers against the budget, evicting
// held pieces to make room. It always succeeds: callers bound what they
// reserve (a torrent's backlog); when reservations alone exceed the budget
// the store holds nothing.
func (s *Store) Reserve(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.makeRoomLocked(n)
	s.reserved += n
}

// Release gives back n reserved bytes that will not be stored.
func (s *Store) Release(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved = max(0, s.reserved-n)
}

// Reserved returns the bytes currently reserved.
func (s *Store) Reserved() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserved
}

// Usage returns the bytes held and reserved, read together.
func (s *Store) Usage() (held, reserved int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes, s.reserved
}

// Max returns the budget in bytes.
func (s *Store) Max() int64 { return s.max }

// Acquire returns a piece with a reference for the caller, who must Unref
// it, and marks it recently used.
func (s *Store) Acquire(k Key) (*Buf, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.lru.Get(k)
	if !ok {
		return nil, false
	}
	return b.Ref(), true
}

// ReadAt copies bytes [off, off+len(p)) of a piece into p, under the lock
// (the piece cannot be evicted and its buffer reused meanwhile), without
// touching its recency. False when the piece is not held or the range is
// outside it.
func (s *Store) ReadAt(k Key, off int, p []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.lru.Peek(k)
	if !ok || off < 0 || off+len(p) > len(b.b) {
		return false
	}
	copy(p, b.b[off:])
	return true
}

// Contains reports whether a piece is held, without touching its recency.
func (s *Store) Contains(k Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Contains(k)
}

// Remove drops a piece.
func (s *Store) Remove(k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lru.Remove(k)
}

// Bytes returns the bytes currently held.
func (s *Store) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Len returns the number of pieces held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}
