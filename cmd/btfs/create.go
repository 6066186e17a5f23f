package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/btfs/btfs/swarm/metainfo"
)

// trackerTiers is a repeatable --tracker flag; commas separate URLs of one
// tier, repeated flags make further tiers.
type trackerTiers [][]string

func (t *trackerTiers) String() string { return fmt.Sprint(*t) }

func (t *trackerTiers) Set(v string) error {
	var tier []string
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u != "" {
			tier = append(tier, u)
		}
	}
	if len(tier) == 0 {
		return fmt.Errorf("empty tracker URL")
	}
	*t = append(*t, tier)
	return nil
}

func cmdCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var trackers trackerTiers
	fs.Var(&trackers, "tracker", "announce `URL` (repeat for more tiers; commas join URLs in one tier)")
	out := fs.String("o", "", "write the torrent to `FILE` (default: NAME.torrent in the current directory)")
	pieceKiB := fs.Int64("piece-length", 0, "piece size in `KiB`, a power of two (0 = automatic)")
	comment := fs.String("comment", "", "`TEXT` stored in the torrent as its comment")
	private := fs.Bool("private", false, "mark the torrent private (no DHT/PEX)")
	pos, err := parse(fs, args, "PATH")
	if err != nil {
		return err
	}
	mi, err := metainfo.Build(ctx, pos[0], metainfo.BuildOptions{
		PieceLength: *pieceKiB * 1024, Trackers: trackers, Comment: *comment, Private: *private,
	})
	if err != nil {
		return err
	}
	b, err := mi.Encode()
	if err != nil {
		return err
	}
	dst := *out
	if dst == "" {
		dst = filepath.Base(mi.Info.Name) + ".torrent"
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("write torrent: %w", err)
	}
	fmt.Fprintf(stdout, "created %s: %s, %d pieces, info-hash %s\n", dst, humanBytes(mi.Info.Length), mi.Info.NumPieces(), mi.HexHash())
	return nil
}
