package dht

import (
	"math/rand/v2"
	"net/netip"
	"time"
)

// Peer store bounds (announce_peer received).
const (
	maxTorrents   = 2000             // info-hashes stored
	maxPeersPer   = 200              // peers per info-hash
	maxPerIP      = 8                // peers per info-hash from one IPv4 address or IPv6 /64
	peerTTL       = 30 * time.Minute // an announce is kept this long
	maxValuesOut  = 50               // IPv4 values in one get_peers reply
	maxValuesOut6 = 25               // IPv6 values in one get_peers reply (18 bytes each)
)

type storedPeer struct {
	addr netip.AddrPort
	at   time.Time
}

type swarmPeers struct {
	peers   []storedPeer
	updated time.Time // last announce
}

// store keeps the peers announced to us. Every dimension is bounded: a
// full info-hash replaces its oldest peer (or the oldest peer of the same
// IP), a full store drops the info-hash announced to least recently. It
// is owned by the node's loop; time is passed in.
type store struct {
	torrents map[[20]byte]*swarmPeers
	n        int // peers in all torrents
}

func newStore() *store {
	return &store{torrents: make(map[[20]byte]*swarmPeers)}
}

// add records that addr announced ih at now.
func (s *store) add(ih [20]byte, addr netip.AddrPort, now time.Time) {
	sw := s.torrents[ih]
	if sw == nil {
		if len(s.torrents) >= maxTorrents {
			s.evict()
		}
		sw = &swarmPeers{}
		s.torrents[ih] = sw
	}
	sw.updated = now
	oldest, oldestIP, sameIP := -1, -1, 0
	key := ipKey(addr.Addr())
	for i := range sw.peers {
		p := &sw.peers[i]
		if p.addr == addr {
			p.at = now
			return
		}
		if oldest < 0 || p.at.Before(sw.peers[oldest].at) {
			oldest = i
		}
		if ipKey(p.addr.Addr()) == key {
			sameIP++
			if oldestIP < 0 || p.at.Before(sw.peers[oldestIP].at) {
				oldestIP = i
			}
		}
	}
	switch {
	case sameIP >= maxPerIP:
		sw.peers[oldestIP] = storedPeer{addr, now}
	case len(sw.peers) >= maxPeersPer:
		sw.peers[oldest] = storedPeer{addr, now}
	default:
		sw.peers = append(sw.peers, storedPeer{addr, now})
		s.n++
	}
}

// evict drops the info-hash announced to least recently.
func (s *store) evict() {
	var victim [20]byte
	var at time.Time
	first := true
	for ih, sw := range s.torrents {
		if first || sw.updated.Before(at) {
			victim, at, first = ih, sw.updated, false
		}
	}
	if sw := s.torrents[victim]; sw != nil {
		s.n -= len(sw.peers)
		delete(s.torrents, victim)
	}
}

// peers appends to dst up to max unexpired peers of ih of the families in
// fams, a uniform random choice when more are stored.
func (s *store) peers(ih [20]byte, now time.Time, max int, fams famSet, dst []netip.AddrPort) []netip.AddrPort {
	sw := s.torrents[ih]
	if sw == nil {
		return dst
	}
	base, seen := len(dst), 0
	for _, p := range sw.peers {
		if now.Sub(p.at) >= peerTTL || !fams.hasAddr(p.addr.Addr()) {
			continue
		}
		if seen < max {
			dst = append(dst, p.addr)
		} else if j := rand.IntN(seen + 1); j < max {
			dst[base+j] = p.addr // reservoir sampling
		}
		seen++
	}
	return dst
}

// expire drops the peers announced more than 30 minutes before now, and
// the info-hashes left without peers.
func (s *store) expire(now time.Time) {
	for ih, sw := range s.torrents {
		keep := sw.peers[:0]
		for _, p := range sw.peers {
			if now.Sub(p.at) < peerTTL {
				keep = append(keep, p)
			}
		}
		s.n -= len(sw.peers) - len(keep)
		sw.peers = keep
		if len(keep) == 0 {
			delete(s.torrents, ih)
		}
	}
}
