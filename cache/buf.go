package cache

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Buf is a piece buffer shared by reference count. Whoever holds a
// reference may read the bytes; the last Unref gives a pooled buffer back
// to its Pool for the next piece, which saves zeroing fresh memory (and,
// once the heap has shrunk, faulting its pages in again) for every piece.
// Every holder must take its own reference (Ref) before the reference it
// got from goes away, and must not touch the bytes after its Unref.
type Buf struct {
	b    []byte
	refs atomic.Int32
	pool *Pool // nil: not recycled (left to the garbage collector)
}

// NewBuf wraps b, with one reference, without a pool.
func NewBuf(b []byte) *Buf {
	x := &Buf{b: b}
	x.refs.Store(1)
	return x
}

// Bytes returns the buffer's bytes, valid while the caller holds a reference.
func (b *Buf) Bytes() []byte { return b.b }

// Ref takes another reference and returns b.
func (b *Buf) Ref() *Buf {
	if b.refs.Add(1) <= 1 {
		panic("cache: Ref of a released buffer")
	}
	return b
}

// Unref drops a reference; the last one recycles the buffer.
func (b *Buf) Unref() {
	switch n := b.refs.Add(-1); {
	case n == 0 && b.pool != nil:
		b.pool.put(b.b)
	case n < 0:
		panic(fmt.Sprintf("cache: buffer released %d times too often", -n))
	}
}

// Pool keeps released piece buffers for reuse, at most maxFree bytes of
// them; it is safe for concurrent use.
type Pool struct {
	mu      sync.Mutex
	free    map[int][][]byte // by length
	bytes   int64
	maxFree int64
	reused  atomic.Int64
}

// NewPool returns a pool that keeps up to maxFree bytes of free buffers.
func NewPool(maxFree int64) *Pool {
	return &Pool{free: map[int][][]byte{}, maxFree: maxFree}
}

// Get returns a buffer of n bytes with one reference. Its contents are
// whatever a previous piece left: callers overwrite every byte before
// reading any (a piece is complete only when all its blocks are in).
func (p *Pool) Get(n int) *Buf {
	p.mu.Lock()
	var b []byte
	if l := p.free[n]; len(l) > 0 {
		b = l[len(l)-1]
		p.free[n] = l[:len(l)-1]
		p.bytes -= int64(n)
		p.reused.Add(1)
	}
	p.mu.Unlock()
	if b == nil {
		b = make([]byte, n)
	}
	x := &Buf{b: b, pool: p}
	x.refs.Store(1)
	return x
}

func (p *Pool) put(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+int64(len(b)) > p.maxFree {
		return // enough kept: let the garbage collector have it
	}
	p.free[len(b)] = append(p.free[len(b)], b)
	p.bytes += int64(len(b))
}

// Reused returns how many Get calls were served from released buffers.
func (p *Pool) Reused() int64 { return p.reused.Load() }
