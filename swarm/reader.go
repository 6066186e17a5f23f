package swarm

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btfs/btfs/cache"
	"github.com/btfs/btfs/swarm/metainfo"
)

// Reader reads torrent bytes, fetching what is missing with priority and
// keeping a readahead window ahead of its position. Sequential reads grow
// the window from minWindow, doubling up to TorrentOptions.Readahead; a
// seek drops it to nothing until the next sequential read. Use one Reader per open file handle; ReadAt is safe for
// concurrent use (the kernel sends several reads of a handle at once).
type Reader struct {
	t      *Torrent
	id     int
	file   metainfo.File // what NewReader was given: BlockedReads names it
	lo, hi int           // pieces of the file: [lo, hi)
	closed atomic.Bool

	// mu guards the position tracking below; it separates concurrent
	// ReadAt calls of one handle.
	mu      sync.Mutex
	nextOff int64 // where the last read ended
	window  int64 // current readahead bytes
	sent    [2]int
}

// Readahead window bounds.
const (
	minWindow = 1 << 20 // on the first sequential read after open or a seek
	// seqSlack is how far a read may start from where the previous one
	// ended and still count as sequential: the kernel's async readahead
	// sends reads slightly out of order.
	seqSlack = 4 << 20
	// mediaHint is how much of a media file's head and tail is fetched on
	// open: players read the header, then the index at the end.
	mediaHint = 4 << 20
	// warmAhead is how many pieces from a reader's position the storage
	// is asked to warm ahead of it: the disk cache checks a piece's first
	// read since start there, off the read path, and leaves it in the page
	// cache; ReadAt then preads just the range it needs (ReadBlock).
	warmAhead = 8
)

var mediaExt = map[string]bool{
	".mkv": true, ".mp4": true, ".m4v": true, ".mov": true, ".avi": true, ".webm": true,
	".ts": true, ".m2ts": true, ".mpg": true, ".mpeg": true, ".wmv": true, ".flv": true, ".ogv": true,
	".mp3": true, ".flac": true, ".m4a": true, ".ogg": true, ".opus": true, ".wav": true, ".aac": true,
}

// NewReader returns a Reader for the bytes of file f (offsets passed to
// ReadAt are still torrent-global; f bounds the readahead). Opening a file
// that looks like media also fetches its first and last few MiB at once.
func (t *Torrent) NewReader(f metainfo.File) *Reader {
	lo, hi := t.layout.PieceRange(f.Offset, f.Length)
	r := &Reader{t: t, id: int(t.readerIDs.Add(1)), file: f, lo: lo, hi: hi, nextOff: -1, window: minWindow, sent: [2]int{-1, -1}}
	if t.opts.Prefetch != PrefetchNone && f.Length > 0 && isMedia(f) {
		hl, he := t.layout.PieceRange(f.Offset, min(f.Length, mediaHint))
		tl, te := t.layout.PieceRange(f.Offset+max(0, f.Length-mediaHint), min(f.Length, mediaHint))
		t.do(func() {
			t.hints[r.id] = [][2]int{{hl, he}, {tl, te}}
			t.prioDirty = true
			t.fillAll()
		})
	}
	return r
}

// isMedia reports whether f's name says it is audio or video: only those
// get their head and tail fetched on open (for other files, a guess the
// swarm would pay for whenever it is wrong).
func isMedia(f metainfo.File) bool {
	if len(f.Path) == 0 {
		return false
	}
	return mediaExt[strings.ToLower(filepath.Ext(f.Path[len(f.Path)-1]))]
}

// ReadAt fills p with torrent bytes at off, waiting for pieces to be
// downloaded and verified. It returns io.EOF at the torrent's end, and
// ctx's error or ErrClosed when it gives up.
func (r *Reader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if r.closed.Load() {
		return 0, ErrClosed
	}
	l := r.t.layout
	r.track(off, len(p))
	n := 0
	var w *waiter // made at the first wait, reused for the read's later pieces
	for n < len(p) {
		pos := off + int64(n)
		if pos >= l.Length {
			return n, io.EOF
		}
		piece := l.PieceAt(pos)
		begin := int(pos - l.PieceOffset(piece))
		chunk := min(len(p)-n, l.PieceSize(piece)-begin)
		for tries := 0; ; tries++ {
			ok, err := r.t.storage.ReadBlock(piece, begin, p[n:n+chunk])
			if err != nil {
				return n, fmt.Errorf("piece %d: %w", piece, err)
			}
			if ok {
				break
			}
			if tries == maxRereads {
				return n, fmt.Errorf("piece %d: held but not readable after %d tries", piece, tries)
			}
			if w == nil {
				w = &waiter{r: r, off: off, size: len(p), since: time.Now()}
			}
			b, err := r.t.waitPiece(ctx, piece, w)
			if err != nil {
				return n, err
			}
			if b != nil {
				copy(p[n:n+chunk], b.Bytes()[begin:])
				b.Unref()
				break
			}
			// Held: read it from storage again (it may have been stored
			// or evicted since ReadBlock looked).
		}
		n += chunk
	}
	return n, nil
}

// track updates the readahead window for a read of n bytes at off and
// tells the loop when the window's pieces change.
func (r *Reader) track(off int64, n int) {
	if r.t.opts.Prefetch == PrefetchNone {
		return
	}
	r.mu.Lock()
	seq := r.nextOff >= 0 && off >= r.nextOff-seqSlack && off <= r.nextOff+seqSlack
	switch {
	case seq && off+int64(n) > r.nextOff:
		r.window = min(max(r.window*2, minWindow), max(r.t.opts.Readahead, minWindow))
		r.nextOff = off + int64(n)
	case !seq:
		// After a seek (or the first read) nothing is fetched beyond the
		// read until a second read shows the reader is sequential: a
		// random reader must not cost the swarm readahead it never uses.
		r.window = 0
		r.nextOff = off + int64(n)
	}
	// The window ends a window past the furthest sequential read, not past
	// this one: the kernel sends a handle's reads slightly out of order,
	// and a late read of an earlier chunk must not pull the window's end
	// back (its pieces' requests would be cancelled, then made again:
	// bandwidth the swarm sent for nothing).
	// Likewise its start stays seqSlack behind the furthest read while
	// reading sequentially: the pieces just behind it may still be on
	// their way to reads the kernel has not sent yet.
	l := r.t.layout
	from := off
	if seq {
		from = min(off, max(r.nextOff-seqSlack, l.PieceOffset(r.lo)))
	}
	start := l.PieceAt(min(from, l.Length-1))
	end := min(l.PieceAt(min(r.nextOff+r.window, l.Length-1))+1, max(r.hi, start+1))
	changed := r.sent != [2]int{start, end}
	r.sent = [2]int{start, end}
	r.mu.Unlock()
	if changed {
		r.follow(start, end)
		r.t.warm(start, min(end, start+warmAhead))
	}
}

// follow moves the readahead window to pieces [start, end).
func (r *Reader) follow(start, end int) {
	r.t.do(func() {
		if r.closed.Load() {
			return
		}
		r.t.windows[r.id] = [2]int{start, end}
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
		delete(r.t.hints, r.id)
		r.t.prioDirty = true
		r.t.updatePriorities()
	})
	return nil
}

// maxRereads bounds how often ReadAt reads a piece the loop says is held
// but storage does not return (evicted between the two, each time).
const maxRereads = 8

// waiter is a ReadAt blocked on a piece: the channel the loop answers on,
// and what BlockedReads tells of the read.
type waiter struct {
	ch    chan *cache.Buf
	r     *Reader
	off   int64     // the read's torrent offset
	size  int       // bytes it asked for
	since time.Time // when the read first had to wait
}

// waitPiece blocks until piece is verified and returns its bytes with a
// reference the caller must drop, or nil when storage holds the piece (the
// caller reads it there: the loop does no storage I/O). w describes the
// read (one per ReadAt, reused for each piece it waits for); its channel
// is made anew for each wait.
func (t *Torrent) waitPiece(ctx context.Context, piece int, w *waiter) (*cache.Buf, error) {
	w.ch = make(chan *cache.Buf, 1)
	if !t.do(func() { t.handleWait(piece, w) }) {
		return nil, ErrClosed
	}
	select {
	case b := <-w.ch:
		return b, nil
	case <-ctx.Done():
		t.do(func() { t.handleUnwait(piece, w) })
		return nil, ctx.Err()
	case <-t.ctx.Done():
		return nil, ErrClosed
	}
}

func (t *Torrent) handleWait(piece int, w *waiter) {
	switch t.pieces.get(piece) {
	case stStoring:
		w.ch <- t.pieces.data[piece].Ref()
		return
	case stHeld:
		if t.storage.Has(piece) {
			w.ch <- nil
			return
		}
		// Gone before the cache's message came.
		t.setState(piece, stMissing)
		t.connectMore()
	}
	t.waiters[piece] = append(t.waiters[piece], w)
	t.prioDirty = true
	t.fillAll()
}

// handleUnwait forgets a waiter whose read gave up.
func (t *Torrent) handleUnwait(piece int, w *waiter) {
	// Only the loop sends on w.ch: a buffer sent before this ran and not
	// taken by the reader, who gave up, is released here.
	defer func() {
		select {
		case b := <-w.ch:
			if b != nil {
				b.Unref()
			}
		default:
		}
	}()
	ws := t.waiters[piece]
	for i, x := range ws {
		if x == w {
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
	t.updatePriorities() // a piece nobody waits for any more stops now
}
