// Command btfs mounts BitTorrent torrents as read-only filesystems and
// streams their contents from the swarm on demand.
//
//	btfs mount FILE.torrent|MAGNET MOUNTPOINT
//	btfs status [--json] [MOUNTPOINT]
//	btfs unmount MOUNTPOINT
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
  btfs mount [flags] TORRENT MOUNTPOINT        mount a torrent (returns once live; -f stays in the foreground)
  btfs unmount [-z] MOUNTPOINT                unmount and wait for the mount's process to exit
  btfs status [--json] [MOUNTPOINT]           progress, rates, peers and trackers of btfs mounts
  btfs info TORRENT                           show a torrent's metadata, files and magnet link
  btfs seed [flags] FILE.torrent DATA-DIR     verify a local copy and seed it
  btfs get [flags] TORRENT DEST-DIR           download a whole torrent into DEST-DIR (no mount)
  btfs create [flags] PATH                    make a .torrent from a file or directory
  btfs cache [list | clear INFOHASH | clear --all]   show or clear the disk cache
  btfs tracker [flags]                        run a small HTTP tracker (for local swarms)
  btfs version                                print the version

TORRENT is a .torrent file, its http(s):// URL, a magnet link (in quotes), or a
file holding a magnet link. Run "btfs COMMAND --help" for a command's flags.
`

// shortUsage is what a command line btfs cannot make sense of gets.
const shortUsage = `usage: btfs COMMAND [flags] [ARGS]
Try 'btfs --help' for more.
`

// errUsage marks errors whose message is the usage text of a command.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, shortUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	var err error
	switch args[0] {
	case "mount":
		err = cmdMount(ctx, args[1:], stdout, stderr)
	case "mount-daemon": // the user's btfs process, started by mount
		err = cmdMountDaemon(ctx, args[1:], stdout, stderr)
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
	case "unmount", "umount":
		err = cmdUnmount(ctx, args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		err = cmdVersion(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "btfs: unknown command %q\n%s", args[0], shortUsage)
		return 2
	}
	var help *helpRequest
	var bad *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		fmt.Fprint(stdout, help.text)
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &bad):
		bad.print(stderr)
		return 2
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
	return parseRange(fs, args, len(positional), len(positional), positional...)
}

// about says in one line what each command does, for --help.
var about = map[string]string{
	"mount":   "Mount a torrent, a magnet link or a directory of torrents read-only; returns once the mount is live.",
	"unmount": "Unmount a btfs mount and wait for its process to exit.",
	"status":  "Show progress, rates, peers and trackers of btfs mounts.",
	"info":    "Show a torrent's metadata, files and magnet link.",
	"seed":    "Verify a local copy of a torrent's content (DATA-DIR/NAME) and seed it.",
	"get":     "Download a whole torrent into DEST-DIR (no mount; resumes).",
	"create":  "Make a .torrent from a file or directory.",
	"tracker": "Run a small in-memory HTTP tracker (for local swarms).",
	"version": "Print the version.",
}

// examples holds one example command line per command, for --help.
var examples = map[string]string{
	"mount":   "btfs mount --max-download-rate 5000 movie.torrent /mnt/movie",
	"unmount": "btfs unmount /mnt/movie",
	"status":  "btfs status --json /mnt/movie",
	"info":    "btfs info movie.torrent",
	"seed":    "btfs seed --port 6881 dir.torrent .",
	"get":     "btfs get movie.torrent ~/Downloads",
	"create":  "btfs create --tracker http://tr.example/announce -o dir.torrent ./dir",
	"tracker": "btfs tracker --listen 127.0.0.1:6969",
	"version": "btfs version",
}

// parseRange is parse for commands taking between lo and hi positional
// arguments.
func parseRange(fs *flag.FlagSet, args []string, lo, hi int, positional ...string) ([]string, error) {
	synopsis := "btfs " + fs.Name()
	if flagHelp(fs) != "" {
		synopsis += " [flags]"
	}
	if len(positional) > 0 {
		synopsis += " " + strings.Join(positional, " ")
	}
	help := "Usage: " + synopsis + "\n"
	if a := about[fs.Name()]; a != "" {
		help += wrap(a, 0, 80) + "\n"
	}
	if ex := examples[fs.Name()]; ex != "" {
		help += "Example: " + ex + "\n"
	}
	pos, err := parseArgs(fs, args, synopsis, help)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) < lo:
		return nil, &usageError{cmd: fs.Name(), msg: "missing " + strings.Join(positional[len(pos):lo], " "), synopsis: synopsis}
	case len(pos) > hi:
		return nil, &usageError{cmd: fs.Name(), msg: fmt.Sprintf("too many arguments (%q and after)", pos[hi]), synopsis: synopsis}
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
