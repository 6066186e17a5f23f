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
// Stored slices are immutable: callers must not modify what they Put or Get.
type Store struct {
	// mu guards lru and bytes; it separates the torrent loops (Put), the
	// FUSE read goroutines and the peer writers (Get).
	mu    sync.Mutex
	lru   *simplelru.LRU[Key, []byte]
	bytes int64
	max   int64
}

// New returns a Store that keeps at most maxBytes of piece data.
func New(maxBytes int64) *Store {
	s := &Store{max: maxBytes}
	// The count bound is never the binding one: bytes are.
	l, err := simplelru.NewLRU[Key, []byte](1<<30, func(_ Key, v []byte) { s.bytes -= int64(len(v)) })
	if err != nil {
		panic(err) // only for a non-positive size, which 1<<30 is not
	}
	s.lru = l
	return s
}

// Put stores a verified piece, evicting least recently used pieces to stay
// within the byte budget. A piece larger than the whole budget is not kept.
func (s *Store) Put(k Key, data []byte) {
	n := int64(len(data))
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > s.max {
		return
	}
	s.lru.Remove(k)
	for s.bytes+n > s.max {
		if _, _, ok := s.lru.RemoveOldest(); !ok {
			break
		}
	}
	s.lru.Add(k, data)
	s.bytes += n
}

// Get returns a piece and marks it recently used.
func (s *Store) Get(k Key) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Get(k)
}

// Peek returns a piece without touching its recency.
func (s *Store) Peek(k Key) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Peek(k)
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
