package swarm

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/btfs/btfs/swarm/metainfo"
)

// Reader reads torrent bytes, fetching what is missing with priority and
// keeping a readahead window ahead of the last piece read. Use one Reader
// per open file handle. ReadAt is safe for concurrent use.
type Reader struct {
	t      *Torrent
	id     int
	lo, hi int // pieces of the file: [lo, hi)
	window int // readahead pieces
	last   atomic.Int64
	closed atomic.Bool
}

// NewReader returns a Reader for the bytes of file f (offsets passed to
// ReadAt are still torrent-global; f bounds the readahead).
func (t *Torrent) NewReader(f metainfo.File) *Reader {
	lo, hi := t.layout.PieceRange(f.Offset, f.Length)
	win := int(t.opts.Readahead / t.layout.PieceLength)
	r := &Reader{t: t, id: int(t.readerIDs.Add(1)), lo: lo, hi: hi, window: max(win, 2)}
	r.last.Store(-1)
	return r
}

// ReadAt fills p with torrent bytes at off, waiting for pieces to be
// downloaded and verified. It returns io.EOF at the torrent's end, and
// ctx's error or ErrClosed when it gives up.
func (r *Reader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if r.closed.Load() {
		return 0, ErrClosed
	}
	l := r.t.layout
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= l.Length {
			return n, io.EOF
		}
		piece := l.PieceAt(pos)
		begin := int(pos - l.PieceOffset(piece))
		chunk := min(len(p)-n, l.PieceSize(piece)-begin)
		if r.last.Swap(int64(piece)) != int64(piece) {
			r.follow(piece)
		}
		ok, err := r.t.storage.ReadBlock(piece, begin, p[n:n+chunk])
		if err != nil {
			return n, fmt.Errorf("piece %d: %w", piece, err)
		}
		if !ok {
			data, err := r.t.waitPiece(ctx, piece)
			if err != nil {
				return n, err
			}
			copy(p[n:n+chunk], data[begin:])
		}
		n += chunk
	}
	return n, nil
}

// follow moves the readahead window to start at piece.
func (r *Reader) follow(piece int) {
	end := min(piece+r.window, max(r.hi, piece+1))
	r.t.do(func() {
		if r.closed.Load() {
			return
		}
		r.t.windows[r.id] = [2]int{piece, end}
		r.t.prioDirty = true
		r.t.fillAll()
	})
}

// Close forgets the reader's readahead window.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.t.do(func() {
		delete(r.t.windows, r.id)
		r.t.prioDirty = true
	})
	return nil
}

// waitPiece blocks until piece is verified and returns its bytes.
func (t *Torrent) waitPiece(ctx context.Context, piece int) ([]byte, error) {
	ch := make(chan []byte, 1)
	if !t.do(func() { t.handleWait(piece, ch) }) {
		return nil, ErrClosed
	}
	select {
	case d := <-ch:
		return d, nil
	case <-ctx.Done():
		t.do(func() { t.handleUnwait(piece, ch) })
		return nil, ctx.Err()
	case <-t.ctx.Done():
		return nil, ErrClosed
	}
}

func (t *Torrent) handleWait(piece int, ch chan []byte) {
	if d, ok := t.storing[piece]; ok {
		ch <- d
		return
	}
	if t.verified.Has(piece) {
		d, ok, err := t.storage.Piece(piece)
		if err == nil && ok {
			ch <- d
			return
		}
		t.verified.Clear(piece) // evicted: fetch it again
		t.pk.Missing(piece)
		t.nVerified.Store(int64(t.verified.Count()))
		t.left.Add(int64(t.layout.PieceSize(piece)))
	}
	t.waiters[piece] = append(t.waiters[piece], ch)
	t.prioDirty = true
	t.fillAll()
}

func (t *Torrent) handleUnwait(piece int, ch chan []byte) {
	ws := t.waiters[piece]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(t.waiters, piece)
	} else {
		t.waiters[piece] = ws
	}
	t.prioDirty = true
}
