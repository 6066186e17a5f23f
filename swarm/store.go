package swarm

import (
	"context"
	"sync"

	"github.com/btfs/btfs/cache"
)

// storeWorkers is how many goroutines write verified pieces to storage.
const storeWorkers = 2

// storeJob is a verified piece to store, with a reference to its buffer
// that the worker drops once storage has it.
type storeJob struct {
	piece int
	b     *cache.Buf
}

type storeResult struct {
	piece int
	err   error
}

// storer writes verified pieces to storage off the event loop, which
// learns the outcome from out. Like the hasher, out is buffered and the
// loop always drains it, so workers never block it for long.
type storer struct {
	in  chan storeJob
	out chan storeResult
	wg  sync.WaitGroup
}

func newStorer(ctx context.Context, put func(piece int, b *cache.Buf) error, workers int) *storer {
	s := &storer{in: make(chan storeJob), out: make(chan storeResult, 4*workers)}
	s.wg.Add(workers)
	for range workers {
		go func() {
			defer s.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-s.in:
					err := put(j.piece, j.b)
					j.b.Unref()
					select {
					case s.out <- storeResult{piece: j.piece, err: err}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	return s
}

// warmWorkers verify disk-cached pieces (CRC-32C) ahead of readers, so
// their reads are single preads.
const warmWorkers = 2

// startWarmers runs the goroutines behind warm, if storage has a slow tier.
func (t *Torrent) startWarmers() {
	w, ok := t.storage.(warmer)
	if !ok {
		return
	}
	t.warmC = make(chan int, 64)
	for range warmWorkers {
		t.wg.Go(func() {
			for {
				select {
				case <-t.ctx.Done():
					return
				case i := <-t.warmC:
					w.Warm(i)
				}
			}
		})
	}
}

// warm asks for pieces [lo, hi) to be made ready on disk; it never blocks
// (requests beyond the queue are dropped: the reader asks again).
func (t *Torrent) warm(lo, hi int) {
	if t.warmC == nil {
		return
	}
	for i := lo; i < hi; i++ {
		select {
		case t.warmC <- i:
		default:
			return
		}
	}
}
