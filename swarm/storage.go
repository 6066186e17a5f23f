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
	// Piece returns a verified piece's bytes, which the caller must not
	// modify, or false when the piece is not held.
	Piece(piece int) ([]byte, bool, error)
	// Has reports whether a piece is held.
	Has(piece int) bool
	// Put stores a verified piece. Ownership of data passes to the storage.
	Put(piece int, data []byte) error
}

// MemoryStorage keeps pieces in a shared cache.Store.
type MemoryStorage struct {
	store *cache.Store
	ih    [20]byte
}

// NewMemoryStorage returns storage for one torrent inside store.
func NewMemoryStorage(store *cache.Store, infoHash [20]byte) *MemoryStorage {
	return &MemoryStorage{store: store, ih: infoHash}
}

func (m *MemoryStorage) key(i int) cache.Key { return cache.Key{InfoHash: m.ih, Piece: i} }

// ReadBlock implements Storage.
func (m *MemoryStorage) ReadBlock(piece, begin int, p []byte) (bool, error) {
	d, ok := m.store.Get(m.key(piece))
	if !ok || begin < 0 || begin+len(p) > len(d) {
		return false, nil
	}
	copy(p, d[begin:])
	return true, nil
}

// Piece implements Storage.
func (m *MemoryStorage) Piece(piece int) ([]byte, bool, error) {
	d, ok := m.store.Get(m.key(piece))
	return d, ok, nil
}

// Has implements Storage.
func (m *MemoryStorage) Has(piece int) bool { return m.store.Contains(m.key(piece)) }

// Put implements Storage.
func (m *MemoryStorage) Put(piece int, data []byte) error {
	m.store.Put(m.key(piece), data)
	return nil
}
