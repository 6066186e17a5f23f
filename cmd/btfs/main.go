// Command btfs mounts BitTorrent torrents as read-only filesystems and
// streams their contents from the swarm on demand.
//
//	btfs mount FILE.torrent MOUNTPOINT
//	btfs info FILE.torrent
//	btfs seed FILE.torrent DATA-DIR
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `btfs streams BitTorrent torrents through a read-only FUSE mount.

Usage:
  btfs mount [flags] FILE.torrent MOUNTPOINT   mount a torrent (stays in the foreground)
  btfs info FILE.torrent                      show a torrent's metadata and files
  btfs seed [flags] FILE.torrent DATA-DIR     verify a local copy and seed it
  btfs get [flags] FILE.torrent DEST-DIR      download a whole torrent into DEST-DIR (no mount)
  btfs create [flags] PATH                    make a .torrent from a file or directory
  btfs cache [list | clear INFOHASH | clear --all]   show or clear the disk cache
  btfs tracker [flags]                        run a small HTTP tracker (for local swarms)

Run "btfs COMMAND -h" for a command's flags.
`

// errUsage marks errors whose message is the usage text of a command.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "mount":
		err = cmdMount(ctx, args[1:], stdout, stderr)
	case "info":
		err = cmdInfo(args[1:], stdout, stderr)
	case "get":
		err = cmdGet(ctx, args[1:], stdout, stderr)
	case "cache":
		err = cmdCache(ctx, args[1:], stdout, stderr)
	case "create":
		err = cmdCreate(ctx, args[1:], stdout, stderr)
	case "seed":
		err = cmdSeed(ctx, args[1:], stdout, stderr)
	case "tracker":
		err = cmdTracker(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "btfs: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "btfs %s: %v\n", args[0], err)
		return 1
	}
}

// parse parses flags wherever they appear among the positional arguments
// (as "btfs mount x.torrent /mnt --port 0" users expect) and checks the
// positional count.
func parse(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: btfs %s [flags] %s\n\nFlags:\n", fs.Name(), strings.Join(positional, " "))
		fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != len(positional) {
		fmt.Fprintf(fs.Output(), "btfs %s: want %d arguments (%s), got %d\n", fs.Name(), len(positional), strings.Join(positional, " "), len(pos))
		fs.Usage()
		return nil, errUsage
	}
	return pos, nil
}

// newLogger returns a text logger on w at the named level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
