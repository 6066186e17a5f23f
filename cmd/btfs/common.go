package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/btfs/btfs/swarm"
	"github.com/btfs/btfs/swarm/tracker"
)

// netFlags are the network flags mount and seed share.
type netFlags struct {
	port     int
	bind     string
	maxPeers int
	peers    peerList
	logLevel string
	announce time.Duration
	cpuProf  string
	maxUp    int64
	maxDown  int64

	dhtBootstrap    string
	noDHT           bool
	metadataTimeout time.Duration
	encryption      encryptionFlag
	utp             bool
}

// encryptionFlag is --encryption prefer|require|off.
type encryptionFlag struct{ e swarm.Encryption }

func (f *encryptionFlag) String() string { return f.e.String() }

func (f *encryptionFlag) Set(s string) error {
	e, err := swarm.ParseEncryption(s)
	if err != nil {
		return err
	}
	f.e = e
	return nil
}

// defaultDHTBootstrap are the well-known public DHT routers.
const defaultDHTBootstrap = "router.bittorrent.com:6881,dht.transmissionbt.com:6881,router.utorrent.com:6881,dht.libtorrent.org:25401"

func (n *netFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&n.port, "port", 6881, "TCP port for incoming peers (the next free one if taken; 0 = any)")
	fs.StringVar(&n.bind, "bind", "", "`ADDR` to listen on (default: all)")
	fs.IntVar(&n.maxPeers, "max-peers", 50, "most peer connections per torrent")
	fs.Var(&n.peers, "peer", "also connect to this peer `HOST:PORT` (repeatable)")
	fs.StringVar(&n.logLevel, "log-level", "warn", "log `LEVEL`: debug, info, warn, error")
	fs.Int64Var(&n.maxUp, "max-upload-rate", 0, "upload limit in `kB/s` (1000 bytes/s; 0 = unlimited)")
	fs.Int64Var(&n.maxDown, "max-download-rate", 0, "download limit in `kB/s` (0 = unlimited)")
	fs.StringVar(&n.cpuProf, "cpuprofile", "", "write a CPU profile of the whole run to `FILE` (for benchmarks)")
	fs.DurationVar(&n.announce, "max-announce-interval", 0, "re-announce at least this often (0 = as the tracker says)")
	n.registerDHT(fs)
	fs.DurationVar(&n.metadataTimeout, "metadata-timeout", 3*time.Minute, "magnet links: give up when no peer has sent the torrent's metadata within this `DURATION`")
	hide(fs, "cpuprofile") // for the benchmarks
}

func (n *netFlags) registerDHT(fs *flag.FlagSet) {
	fs.StringVar(&n.dhtBootstrap, "dht-bootstrap", defaultDHTBootstrap, "DHT nodes to join through, `HOST:PORT[,...]`")
	fs.BoolVar(&n.noDHT, "no-dht", false, "run no DHT node (peers only from trackers, --peer and peer exchange)")
	fs.Var(&n.encryption, "encryption", "peer connection encryption (MSE/PE), `MODE`: prefer (try encrypted, fall back to plaintext; accept both), require, or off")
	fs.BoolVar(&n.utp, "utp", true, "also reach and accept peers over uTP (UDP, the port number of TCP); --utp=false or --no-utp turns it off")
	fs.BoolFunc("no-utp", "reach and accept peers over TCP only (no uTP)", func(string) error { n.utp = false; return nil })
	hide(fs, "utp") // --no-utp says it
}

// registerMagnet registers the flags `info` needs to fetch a magnet's
// metadata: where to find peers, and for how long.
func (n *netFlags) registerMagnet(fs *flag.FlagSet) {
	fs.StringVar(&n.bind, "bind", "", "`ADDR` to listen on (default: all)")
	fs.Var(&n.peers, "peer", "also connect to this peer `HOST:PORT` (repeatable)")
	fs.StringVar(&n.logLevel, "log-level", "warn", "log `LEVEL`: debug, info, warn, error")
	n.registerDHT(fs)
	fs.DurationVar(&n.metadataTimeout, "metadata-timeout", time.Minute, "give up when no peer has sent the torrent's metadata within this `DURATION`")
	n.maxPeers = 50
}

// startProfile starts the CPU profile if one was asked for.
func (n *netFlags) startProfile() (func(), error) {
	if n.cpuProf == "" {
		return func() {}, nil
	}
	return startCPUProfile(n.cpuProf)
}

// newClient starts the engine with the flags' network settings; the DHT's
// node table is kept in stateDir ("" = not kept).
func (n *netFlags) newClient(log *slog.Logger, stateDir string) (*swarm.Client, error) {
	cfg := n.config()
	cfg.Logger = log
	if stateDir != "" && cfg.DHT {
		if err := os.MkdirAll(stateDir, 0o755); err == nil {
			cfg.DHTStateFile = filepath.Join(stateDir, "dht-nodes")
		}
	}
	return swarm.NewClient(cfg)
}

func (n *netFlags) config() swarm.Config {
	cfg := swarm.Config{
		ListenAddr:          net.JoinHostPort(n.bind, fmt.Sprint(n.port)),
		MaxPeers:            n.maxPeers,
		MaxAnnounceInterval: n.announce,
		UploadRate:          n.maxUp * 1000,
		DownloadRate:        n.maxDown * 1000,
		DHT:                 !n.noDHT,
		Encryption:          n.encryption.e,
		NoUTP:               !n.utp,
	}
	for _, b := range strings.Split(n.dhtBootstrap, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.DHTBootstrap = append(cfg.DHTBootstrap, b)
		}
	}
	if ip := net.ParseIP(n.bind); ip != nil && !ip.IsUnspecified() {
		// Announce from the bound address too, so trackers hand out the
		// address we listen on.
		d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = d.DialContext
		cfg.Tracker = &tracker.Client{HTTP: &http.Client{Timeout: 15 * time.Second, Transport: tr}, UDPTimeout: 3 * time.Second}
	}
	return cfg
}

// peerList is a repeatable HOST:PORT flag.
type peerList []netip.AddrPort

func (p *peerList) String() string {
	s := make([]string, len(*p))
	for i, a := range *p {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

func (p *peerList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		a, err := netip.ParseAddrPort(strings.TrimSpace(part))
		if err != nil {
			host, port, err2 := net.SplitHostPort(part)
			if err2 != nil {
				return fmt.Errorf("peer %q: want HOST:PORT", part)
			}
			ips, err2 := net.LookupIP(host)
			if err2 != nil || len(ips) == 0 {
				return fmt.Errorf("peer %q: %w", part, err)
			}
			ip, _ := netip.AddrFromSlice(ips[0])
			a, err = netip.ParseAddrPort(net.JoinHostPort(ip.Unmap().String(), port))
			if err != nil {
				return fmt.Errorf("peer %q: %w", part, err)
			}
		}
		*p = append(*p, a)
	}
	return nil
}
