package swarm

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// maxBlockedReads bounds what BlockedReads returns (the kernel keeps a few
// dozen reads of a mount in flight at most).
const maxBlockedReads = 64

// BlockedRead is a ReadAt waiting for a piece that is not verified yet.
type BlockedRead struct {
	Path           []string      // the file read: its metainfo.File.Path as given to NewReader
	FileOffset     int64         // where the read starts in that file
	Offset         int64         // where it starts in the torrent
	Size           int           // bytes asked for
	Waiting        time.Duration // since the read first had to wait
	Piece          int           // the piece it waits for now
	PeersWithPiece int           // connected peers that have that piece
}

// BlockedReads lists the reads waiting for pieces, longest waiting first,
// at most maxBlockedReads of them. It returns nil once ctx is done or the
// torrent has stopped.
func (t *Torrent) BlockedReads(ctx context.Context) []BlockedRead {
	b, _ := ask(ctx, t, func() []BlockedRead { return t.blockedReads(time.Now()) })
	return b
}

// blockedReads runs on the loop.
func (t *Torrent) blockedReads(now time.Time) []BlockedRead {
	out := []BlockedRead{}
	for piece, ws := range t.waiters {
		have := 0
		for p := range t.peers {
			if p.bf.Has(piece) {
				have++
			}
		}
		for _, w := range ws {
			out = append(out, BlockedRead{
				Path: slices.Clone(w.r.file.Path), FileOffset: w.off - w.r.file.Offset, Offset: w.off, Size: w.size,
				Waiting: now.Sub(w.since), Piece: piece, PeersWithPiece: have,
			})
		}
	}
	slices.SortFunc(out, func(a, b BlockedRead) int {
		if c := cmp.Compare(b.Waiting, a.Waiting); c != 0 {
			return c
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
	if len(out) > maxBlockedReads {
		out = out[:maxBlockedReads]
	}
	return out
}
