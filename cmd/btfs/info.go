package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/btfs/btfs/swarm/metainfo"
)

func cmdInfo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf netFlags
	nf.registerMagnet(fs)
	cacheDir := fs.String("cache-dir", defaultCacheDir(), "where fetched metadata is kept, `DIR`")
	pos, err := parse(fs, args, "TORRENT")
	if err != nil {
		return err
	}
	ctx := context.Background()
	src, err := openSource(ctx, pos[0])
	if err != nil {
		return err
	}
	if src.mi != nil {
		printInfo(stdout, src.mi)
		return nil
	}
	// A magnet link: its metadata from the cache, or from peers.
	if mi := cachedMetadata(*cacheDir, src.mg); mi != nil {
		printInfo(stdout, mi)
		return nil
	}
	log, err := newLogger(stderr, nf.logLevel)
	if err != nil {
		return err
	}
	nf.port = 0
	cl, err := nf.newClient(log, *cacheDir)
	if err != nil {
		return err
	}
	defer cl.Close()
	mi, _, err := nf.resolveMetadata(ctx, cl, src, *cacheDir, nil)
	if err != nil {
		return err
	}
	printInfo(stdout, mi)
	return nil
}

func printInfo(w io.Writer, mi *metainfo.MetaInfo) {
	info := &mi.Info
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\n", info.Name)
	fmt.Fprintf(tw, "info-hash:\t%s\n", mi.HexHash())
	fmt.Fprintf(tw, "magnet:\t%s\n", mi.Magnet())
	fmt.Fprintf(tw, "size:\t%s (%d bytes)\n", humanBytes(info.Length), info.Length)
	fmt.Fprintf(tw, "pieces:\t%d × %s\n", info.NumPieces(), humanBytes(info.PieceLength))
	if info.Private {
		fmt.Fprintf(tw, "private:\tyes\n")
	}
	if !mi.CreationDate.IsZero() {
		fmt.Fprintf(tw, "created:\t%s\n", mi.CreationDate.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	if mi.CreatedBy != "" {
		fmt.Fprintf(tw, "created by:\t%s\n", mi.CreatedBy)
	}
	if mi.Comment != "" {
		fmt.Fprintf(tw, "comment:\t%s\n", mi.Comment)
	}
	tw.Flush()
	tiers := mi.Trackers()
	if len(tiers) == 0 {
		fmt.Fprintln(w, "trackers: none")
	} else {
		fmt.Fprintln(w, "trackers:")
		for i, tier := range tiers {
			for _, u := range tier {
				fmt.Fprintf(w, "  tier %d  %s\n", i+1, u)
			}
		}
	}
	fmt.Fprintf(w, "files (%d):\n", len(info.Files))
	printTree(w, info)
}

// printTree prints the file tree, directories before their contents.
func printTree(w io.Writer, info *metainfo.Info) {
	root := info.Name
	seen := map[string]bool{}
	if info.MultiFile {
		fmt.Fprintf(w, "  %s/\n", root)
	}
	for _, f := range info.Files {
		if f.Padding {
			continue
		}
		indent := "  "
		if info.MultiFile {
			for i := 1; i < len(f.Path); i++ {
				dir := path.Join(f.Path[:i]...)
				if !seen[dir] {
					seen[dir] = true
					fmt.Fprintf(w, "  %s%s/\n", strings.Repeat("  ", i), f.Path[i-1])
				}
			}
			indent = strings.Repeat("  ", len(f.Path)+1)
		}
		fmt.Fprintf(w, "%s%s  %s\n", indent, f.Path[len(f.Path)-1], humanBytes(f.Length))
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
