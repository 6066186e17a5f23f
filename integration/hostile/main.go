// Command hostile attacks a btfs mount over loopback, one attack family per
// subcommand, to check the engine's defences (issue 15). It talks only to
// 127.0.0.0/8 and never resolves a name; every wait is bounded by -for.
//
//	hostile ATTACK -torrent FILE -target HOST:PORT -bind IP -for D [flags]
//
// Attacks:
//
//	badhash    handshake, have-all, unchoke, answer requests with garbage;
//	           when dropped or refused, reconnect at once with a new peer id
//	stealid    badhash under a given peer id (-id HEX, or -learn HOST:PORT
//	           to read it from that peer's handshake), -bad 1 garbage block
//	           in all, genuine blocks from -data after it
//	reqflood   handshake, interested, then requests as fast as possible,
//	           never reading the socket (-fast=false -interested=false:
//	           without the fast extension and never unchoked)
//	tracker    an HTTP tracker on -listen answering every announce with
//	           -peers compact peers in 127.1.0.0/16 and interval -interval
//	connflood  -n connections, -mode half (no handshake) or idle (handshake,
//	           then silence); closed ones are opened again (-refill)
//	unsolicited handshake, then piece messages nobody asked for
//	keepalive  handshake, then keep-alives as fast as possible
//	trickle    handshake, then one byte every -every of a piece message
//	           that never completes (-msg keepalive: of keep-alives)
//	chokeflap  handshake, have-all, then choke/unchoke as fast as possible
//	peerid     print the peer id of -target's handshake (for stealid)
//
// The peer attacks also accept the mount's own dials with -listen (a port
// on -bind, 0 for any; the address is printed as "listening ADDR"), and
// connect again -pause after a connection ends (badhash and stealid at
// once, the others after 1 s, so that what is measured is the attack
// rather than a storm of reconnections). Each run ends with one line of
// JSON counting connections and traffic; SIGINT or SIGTERM end it early,
// with the same line. Memory is bounded: one reused buffer per connection,
// no goroutine per connection in connflood.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/btfs/btfs/swarm/metainfo"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	name := os.Args[1]
	run, ok := attacks[name]
	if !ok {
		usage()
	}
	if err := run(name, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "hostile %s: %v\n", name, err)
		os.Exit(1)
	}
}

var attacks = map[string]func(name string, args []string) error{
	"badhash":     runPeer,
	"stealid":     runPeer,
	"reqflood":    runPeer,
	"unsolicited": runPeer,
	"keepalive":   runPeer,
	"trickle":     runPeer,
	"chokeflap":   runPeer,
	"connflood":   runConnFlood,
	"tracker":     runTracker,
	"peerid":      runPeerID,
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: hostile badhash|stealid|reqflood|unsolicited|keepalive|trickle|chokeflap|connflood|tracker|peerid -torrent FILE [-target HOST:PORT] [-bind IP] [-for D] [flags]")
	os.Exit(2)
}

// common holds the flags every attack takes.
type common struct {
	torrent string
	target  string
	bind    string
	dur     time.Duration
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.torrent, "torrent", "", "the `.torrent` file of the attacked mount")
	fs.StringVar(&c.target, "target", "", "the mount's listen address `HOST:PORT` (127.0.0.0/8)")
	fs.StringVar(&c.bind, "bind", "127.0.0.66", "source `IP` of every connection (127.0.0.0/8)")
	fs.DurationVar(&c.dur, "for", 20*time.Second, "how long to attack")
}

// loopback parses a numeric IPv4 address and insists it is in 127.0.0.0/8.
func loopback(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: %w (a numeric 127.x.y.z address is required)", s, err)
	}
	if !a.Is4() || !a.IsLoopback() {
		return netip.Addr{}, fmt.Errorf("address %s is not in 127.0.0.0/8", a)
	}
	return a, nil
}

// loopbackPort is loopback for HOST:PORT.
func loopbackPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w (a numeric 127.x.y.z:port is required)", s, err)
	}
	if _, err := loopback(ap.Addr().String()); err != nil {
		return netip.AddrPort{}, err
	}
	return ap, nil
}

// parsed is what the common flags give, checked.
type parsed struct {
	mi     *metainfo.MetaInfo // nil when -torrent was not given
	target netip.AddrPort     // invalid when -target was not given
	bind   netip.Addr
}

func (c *common) parse(needTorrent, needTarget bool) (parsed, error) {
	var p parsed
	var err error
	if p.bind, err = loopback(c.bind); err != nil {
		return p, fmt.Errorf("-bind: %w", err)
	}
	if c.target != "" {
		if p.target, err = loopbackPort(c.target); err != nil {
			return p, fmt.Errorf("-target: %w", err)
		}
	} else if needTarget {
		return p, errors.New("-target is required")
	}
	if c.torrent != "" {
		if p.mi, err = metainfo.Load(c.torrent); err != nil {
			return p, err
		}
	} else if needTorrent {
		return p, errors.New("-torrent is required")
	}
	if c.dur <= 0 {
		return p, errors.New("-for must be positive")
	}
	return p, nil
}

// attackContext ends after d or at SIGINT/SIGTERM.
func attackContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, func() { cancel(); stop() }
}

// printJSON writes v as one line of JSON on stdout.
func printJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
	fmt.Println(string(b))
}
