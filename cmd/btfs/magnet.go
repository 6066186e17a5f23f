package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/btfs/btfs/swarm"
	"github.com/btfs/btfs/swarm/metainfo"
)

// source is what the user named: a torrent (file or URL), or a magnet link
// (given as is, or in a file) whose metadata may still have to be fetched.
type source struct {
	mi *metainfo.MetaInfo
	mg *metainfo.Magnet
}

// openSource parses a source argument: a magnet link, an http(s):// URL of a
// .torrent, or a path to a .torrent or to a file holding a magnet link.
func openSource(ctx context.Context, arg string) (source, error) {
	switch {
	case metainfo.IsMagnet(arg):
		mg, err := metainfo.ParseMagnet(arg)
		if err != nil {
			return source{}, err
		}
		return source{mg: mg}, nil
	case strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://"):
		mi, err := loadTorrent(ctx, arg)
		return source{mi: mi}, err
	}
	mi, mg, err := metainfo.LoadSource(arg)
	return source{mi: mi, mg: mg}, err
}

// metadataPath is where fetched metadata is kept: a complete .torrent per
// info-hash under the cache directory, so a magnet remount starts at once
// and works offline.
func metadataPath(cacheDir string, ih [20]byte) string {
	return filepath.Join(cacheDir, "torrents", fmt.Sprintf("%x.torrent", ih))
}

// cachedMetadata returns the kept .torrent for a magnet, if any. A file
// that does not parse or hash right is ignored (and will be replaced).
func cachedMetadata(cacheDir string, mg *metainfo.Magnet) *metainfo.MetaInfo {
	if cacheDir == "" {
		return nil
	}
	mi, err := metainfo.Load(metadataPath(cacheDir, mg.InfoHash))
	if err != nil || mi.InfoHash != mg.InfoHash {
		return nil
	}
	// Trackers and peers of the magnet given now win over those kept.
	fresh, err := metainfo.FromInfo(mg.InfoHash, mi.InfoBytes, mg)
	if err != nil {
		return nil
	}
	if len(mg.Trackers) == 0 {
		fresh.Announce, fresh.AnnounceList = mi.Announce, mi.AnnounceList
	}
	return fresh
}

// keepMetadata writes mi to the cache directory, atomically.
func keepMetadata(cacheDir string, mi *metainfo.MetaInfo) error {
	b, err := mi.Encode()
	if err != nil {
		return err
	}
	path := metadataPath(cacheDir, mi.InfoHash)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("keep metadata: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".torrent-*")
	if err != nil {
		return fmt.Errorf("keep metadata: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("keep metadata: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keep metadata: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keep metadata: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keep metadata: %w", err)
	}
	return nil
}

// magnetPeers is the magnet's x.pe peers, with host names resolved.
func magnetPeers(ctx context.Context, mg *metainfo.Magnet) []netip.AddrPort {
	peers := append([]netip.AddrPort(nil), mg.Peers...)
	for _, hp := range mg.PeerHosts {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			continue
		}
		var p uint16
		if _, err := fmt.Sscan(port, &p); err != nil || p == 0 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		cancel()
		if err == nil && len(ips) > 0 {
			peers = append(peers, netip.AddrPortFrom(ips[0].Unmap(), p))
		}
	}
	return peers
}

// resolveMetadata returns the torrent of src: at once for a .torrent or a
// magnet whose metadata is kept in cacheDir, else fetched from peers
// within the flags' --metadata-timeout (and then kept). It also returns
// the peers met while fetching, to connect to first.
func (n *netFlags) resolveMetadata(ctx context.Context, cl *swarm.Client, src source, cacheDir string, progress func(swarm.MetadataStatus)) (*metainfo.MetaInfo, []netip.AddrPort, error) {
	if src.mi != nil {
		return src.mi, nil, nil
	}
	mg := src.mg
	if mi := cachedMetadata(cacheDir, mg); mi != nil {
		return mi, magnetPeers(ctx, mg), nil
	}
	fctx, cancel := context.WithTimeout(ctx, n.metadataTimeout)
	defer cancel()
	var last swarm.MetadataStatus
	mi, peers, err := cl.FetchMetadata(fctx, mg, swarm.MagnetOptions{
		Peers: append(magnetPeers(ctx, mg), n.peers...),
		Progress: func(s swarm.MetadataStatus) {
			last = s
			if progress != nil {
				progress(s)
			}
		},
	})
	if err != nil {
		if errors.Is(err, swarm.ErrNoMetadata) && ctx.Err() == nil {
			hint := "check the magnet's trackers (tr=), the DHT (--dht-bootstrap), or name a peer with --peer HOST:PORT"
			if n.noDHT {
				hint = "the DHT is off (--no-dht): add trackers to the magnet or name a peer with --peer HOST:PORT"
			}
			return nil, nil, fmt.Errorf("no metadata for %x within %v (%s found, %d connected, %d offered it): %s",
				mg.InfoHash, n.metadataTimeout, peersN(last.Known), last.Connected, last.Serving, hint)
		}
		return nil, nil, err
	}
	if cacheDir != "" {
		if err := keepMetadata(cacheDir, mi); err != nil {
			cl.Logger().Warn("metadata not kept", "err", err)
		}
	}
	return mi, peers, nil
}

// metadataLine is the one-line progress of a metadata fetch.
func metadataLine(s swarm.MetadataStatus) string {
	line := fmt.Sprintf("fetching metadata: %s found, %d connected, %d offer it", peersN(s.Known), s.Connected, s.Serving)
	if s.Size > 0 {
		line += fmt.Sprintf(" (%s)", humanBytes(int64(s.Size)))
	}
	return line
}

// peersN is "1 peer" or "N peers".
func peersN(n int) string {
	if n == 1 {
		return "1 peer"
	}
	return fmt.Sprintf("%d peers", n)
}
