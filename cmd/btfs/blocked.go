package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/btfs/btfs/swarm"
)

// blockedRead is a read waiting for a piece, in `btfs status`.
type blockedRead struct {
	Path           string  `json:"path"`   // the file, as in "files"
	Offset         int64   `json:"offset"` // where the read starts in the file
	Size           int     `json:"size"`
	WaitingSeconds float64 `json:"waiting_seconds"`
	Piece          int     `json:"piece"`            // the piece it waits for
	PeersWithPiece int     `json:"peers_with_piece"` // connected peers that have it
}

// blockedReads asks the engine for the reads waiting for pieces, longest
// waiting first.
func blockedReads(ctx context.Context, t *swarm.Torrent) []blockedRead {
	out := []blockedRead{}
	for _, b := range t.BlockedReads(ctx) {
		out = append(out, blockedRead{
			Path: filepath.Join(b.Path...), Offset: b.FileOffset, Size: b.Size,
			WaitingSeconds: b.Waiting.Seconds(), Piece: b.Piece, PeersWithPiece: b.PeersWithPiece,
		})
	}
	return out
}

// printBlocked prints one line per blocked read.
func printBlocked(w io.Writer, reads []blockedRead) {
	for _, b := range reads {
		fmt.Fprintf(w, "  blocked    %s at %d (%s) for %s: waits for piece %d, which %s\n",
			b.Path, b.Offset, humanBytes(int64(b.Size)), time.Duration(b.WaitingSeconds*float64(time.Second)).Round(time.Second),
			b.Piece, haveN(b.PeersWithPiece))
	}
}

// haveN says how many connected peers have a piece.
func haveN(n int) string {
	switch n {
	case 0:
		return "no connected peer has"
	case 1:
		return "1 connected peer has"
	}
	return fmt.Sprintf("%d connected peers have", n)
}
