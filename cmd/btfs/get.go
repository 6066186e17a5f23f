package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/btfs/btfs/swarm"
)

// cmdGet downloads a whole torrent into a directory, without FUSE.
func cmdGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf netFlags
	nf.register(fs)
	quiet := fs.Bool("q", false, "no progress line")
	pos, err := parse(fs, args, "TORRENT", "DEST-DIR")
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, nf.logLevel)
	if err != nil {
		return err
	}
	stopProfile, err := nf.startProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	src, err := openSource(ctx, pos[0])
	if err != nil {
		return err
	}
	cl, err := nf.newClient(log, defaultCacheDir())
	if err != nil {
		return err
	}
	defer cl.Close()
	start := time.Now()
	mi, met, err := nf.resolveMetadata(ctx, cl, src, defaultCacheDir(), func(s swarm.MetadataStatus) {
		if !*quiet {
			fmt.Fprintf(stderr, "\r%s", metadataLine(s))
		}
	})
	if err != nil {
		return err
	}
	if src.mi == nil {
		if !*quiet {
			fmt.Fprintln(stderr)
		}
		fmt.Fprintf(stdout, "metadata of %s in %.2f s\n", mi.Info.Name, time.Since(start).Seconds())
	}
	st, err := swarm.CreateFileStorage(&mi.Info, pos[1])
	if err != nil {
		return err
	}
	defer st.Close()
	have, err := st.Verify(ctx)
	if err != nil {
		return err
	}
	t, err := cl.AddTorrent(mi, st, swarm.TorrentOptions{Peers: append(met, nf.peers...), Prefetch: swarm.PrefetchAll})
	if err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted with %d/%d pieces", t.Stats().PiecesVerified, mi.Info.NumPieces())
		case <-tick.C:
			if !*quiet {
				s := t.Stats()
				fmt.Fprintf(stderr, "\r%d peers, %d/%d pieces, %s", s.Peers, s.PiecesVerified, s.Pieces, humanBytes(s.Downloaded))
			}
			continue
		case <-t.Complete():
		}
		break
	}
	if err := st.Sync(); err != nil {
		return err
	}
	d := time.Since(start)
	got := t.Stats().Downloaded
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stdout, "downloaded %s: %s in %.2f s (%.1f MB/s), %d pieces were already here\n",
		mi.Info.Name, humanBytes(got), d.Seconds(), float64(got)/d.Seconds()/1e6, have)
	return nil
}
