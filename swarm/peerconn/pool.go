package peerconn

import (
	"sync"

	"github.com/btfs/btfs/swarm/wire"
)

// blockSize is the size of the payloads the pool recycles: the usual
// block (others are allocated).
const blockSize = 16 * 1024

// Pool recycles 16 KiB block payload buffers between reader goroutines and
// their owner. It holds array pointers, so Put allocates nothing. The zero
// value is ready to use; a nil *Pool allocates every buffer.
type Pool struct{ p sync.Pool }

// Copy returns b in a pooled buffer (a fresh one when b is not a 16 KiB
// block or bp is nil).
func (bp *Pool) Copy(b []byte) []byte {
	if bp == nil || len(b) != blockSize {
		return append([]byte(nil), b...)
	}
	buf, _ := bp.p.Get().(*[blockSize]byte)
	if buf == nil {
		buf = new([blockSize]byte)
	}
	copy(buf[:], b)
	return buf[:]
}

// Put gives back a Piece message's payload once the owner is done with it.
func (bp *Pool) Put(m wire.Message) {
	if bp != nil && m.ID == wire.Piece && len(m.Payload) == blockSize && cap(m.Payload) == blockSize {
		bp.p.Put((*[blockSize]byte)(m.Payload))
	}
}
