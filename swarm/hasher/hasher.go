// Package hasher verifies pieces with SHA-1 in a small pool of worker
// goroutines, off the torrent's event loop. Verdicts come back by channel.
package hasher

import (
	"context"
	"crypto/sha1"
	"sync"
)

// Job asks for one piece to be checked against its expected hash.
type Job struct {
	Piece int
	Data  []byte
	Want  [20]byte
}

// Result is the verdict on a Job. Data is the Job's data, handed back.
type Result struct {
	Piece int
	Data  []byte
	OK    bool
}

// Pool is a fixed set of hashing workers. Send jobs on In; read verdicts
// from Out. Out is buffered as deeply as In, and a worker blocks on Out only
// while the consumer is busy, so a consumer that selects on both never
// deadlocks.
type Pool struct {
	in  chan Job
	out chan Result
	wg  sync.WaitGroup
}

// New starts workers goroutines that run until ctx is done. Call Wait after
// cancelling ctx to be sure they have all stopped.
func New(ctx context.Context, workers int) *Pool {
	if workers < 1 {
		workers = 1
	}
	p := &Pool{in: make(chan Job, workers), out: make(chan Result, 4*workers)}
	p.wg.Add(workers)
	for range workers {
		go p.work(ctx)
	}
	return p
}

// In is where jobs are submitted.
func (p *Pool) In() chan<- Job { return p.in }

// Out delivers verdicts.
func (p *Pool) Out() <-chan Result { return p.out }

// Wait blocks until every worker has returned (after ctx is done).
func (p *Pool) Wait() { p.wg.Wait() }

func (p *Pool) work(ctx context.Context) {
	defer p.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-p.in:
			r := Result{Piece: j.Piece, Data: j.Data, OK: sha1.Sum(j.Data) == j.Want}
			select {
			case p.out <- r:
			case <-ctx.Done():
				return
			}
		}
	}
}
