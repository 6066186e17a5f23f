package swarm

import (
	"github.com/btfs/btfs/cache"
)

// Storage holds a torrent's verified pieces. Implementations are safe for
// concurrent use: the event loop writes, readers and peer writers read.
type Storage interface {
	// ReadBlock copies bytes [begin, begin+len(p)) of a verified piece into
	// p. It returns false when the piece is not held (never verified, or
	// evicted).
	ReadBlock(piece, begin int, p []byte) (bool, error)
	// Has reports whether a piece is held.
	Has(piece int) bool
	// Put stores a verified piece. Ownership of data passes to the storage.
	Put(piece int, data []byte) error
}

// allocator is storage that hands out recycled piece buffers (see
// cache.Buf); without it every piece gets a fresh buffer.
type allocator interface {
	Alloc(n int) *cache.Buf
}

// warmer is storage with a slow tier that can be made ready (verified)
// ahead of readers.
type warmer interface {
	Warm(piece int)
}

// Storage implementations in this module.
var (
	_ Storage   = (*cache.Pieces)(nil)
	_ allocator = (*cache.Pieces)(nil)
	_ budgeter  = (*cache.Pieces)(nil)
	_ warmer    = (*cache.Pieces)(nil)
	_ Storage   = (*FileStorage)(nil)
)
