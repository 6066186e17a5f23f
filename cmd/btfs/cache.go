package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/btfs/btfs/cache/disk"
)

// cmdCache shows or clears the disk cache.
func cmdCache(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cache", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("cache-dir", defaultCacheDir(), "disk cache `DIR`")
	all := fs.Bool("all", false, "with clear: remove every torrent's cached data")
	const synopsis = "btfs cache [--cache-dir DIR] [list | clear INFOHASH | clear --all]"
	pos, err := parseArgs(fs, args, synopsis, `Usage:
  btfs cache [list]                 show what the disk cache holds per torrent
  btfs cache clear INFOHASH         drop one torrent's cached pieces
  btfs cache clear --all            drop everything (torrents mounted now are kept)

Example: btfs cache clear --all --cache-dir /var/cache/btfs
`)
	if err != nil {
		return err
	}
	bad := &usageError{cmd: "cache", msg: fmt.Sprintf("unexpected arguments %q", strings.Join(pos, " ")), synopsis: synopsis}
	if len(pos) > 0 && !(len(pos) == 1 && pos[0] == "list") && !(pos[0] == "clear" && (len(pos) == 2 || len(pos) == 1 && *all)) {
		return bad
	}
	list := len(pos) == 0 || len(pos) == 1 && pos[0] == "list"
	// A running mount holds the cache's lock: then list what it last
	// committed, read without the lock; clearing must wait for it.
	c, err := disk.Open(ctx, disk.Options{Dir: *dir, MaxBytes: 1 << 62})
	switch {
	case errors.Is(err, disk.ErrLocked) && list:
		es, err := disk.Inspect(*dir)
		if err != nil {
			return fmt.Errorf("read cache %s: %w", *dir, err)
		}
		printCacheList(stdout, es, *dir)
		fmt.Fprintln(stdout, "(a running btfs mount uses this cache: this is what it last saved)")
		return nil
	case errors.Is(err, disk.ErrLocked):
		// The user's btfs process holds it: it clears what is not mounted.
		if derr := clearViaDaemon(*dir, pos[1:]); derr == nil {
			return nil
		} else if !errors.Is(derr, errNoDaemon) {
			return derr
		}
		return fmt.Errorf("cache %s is in use by a btfs mount running in the foreground: unmount it first (btfs status lists mounts), or name another --cache-dir", *dir)
	case err != nil:
		return fmt.Errorf("open cache %s: %w", *dir, err)
	}
	defer c.Close()
	switch {
	case list:
		printCacheList(stdout, c.List(), *dir)
		return nil
	case pos[0] == "clear" && len(pos) == 1 && *all:
		return c.RemoveAll()
	case pos[0] == "clear" && len(pos) == 2:
		b, err := hex.DecodeString(pos[1])
		if err != nil || len(b) != 20 {
			return fmt.Errorf("info-hash %q: want 40 hex digits", pos[1])
		}
		return c.Remove([20]byte(b))
	}
	return bad
}

// printCacheList prints one line per torrent of the cache and the total.
func printCacheList(w io.Writer, es []disk.Entry, dir string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tINFO-HASH\tSIZE\tPIECES")
	var total int64
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%x\t%s\t%d/%d\n", e.Name, e.InfoHash, humanBytes(e.Bytes), e.Pieces, e.NumPieces)
		total += e.Bytes
	}
	tw.Flush()
	fmt.Fprintf(w, "total %s in %s\n", humanBytes(total), dir)
}
