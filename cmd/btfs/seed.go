package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/btfs/btfs/swarm"
)

func cmdSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf netFlags
	nf.register(fs)
	pos, err := parse(fs, args, "FILE.torrent", "DATA-DIR")
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, nf.logLevel)
	if err != nil {
		return err
	}
	mi, err := loadTorrent(ctx, pos[0])
	if err != nil {
		return err
	}
	st, err := swarm.OpenFileStorage(&mi.Info, pos[1])
	if err != nil {
		return err
	}
	defer st.Close()
	good, err := st.Verify(ctx)
	if err != nil {
		return err
	}
	if good == 0 {
		return fmt.Errorf("no piece of %q under %s matches the torrent", mi.Info.Name, pos[1])
	}
	cl, err := nf.newClient(log, defaultCacheDir())
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.AddTorrent(mi, st, swarm.TorrentOptions{Seed: true, Peers: nf.peers}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeding %s (%d/%d pieces verified) on port %d\n", mi.Info.Name, good, mi.Info.NumPieces(), cl.Port())
	<-ctx.Done()
	return nil
}
