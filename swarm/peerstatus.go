package swarm

import (
	"context"
	"net/netip"
	"sort"
)

// PeerStatus is one peer address as status shows it: connected or known,
// how its connection was made, and the recent attempts to reach it.
type PeerStatus struct {
	Addr      netip.AddrPort
	Connected bool
	Incoming  bool
	// Way is how the connection was made: "tcp", "tcp+mse", "utp" or
	// "utp+mse"; "" when not connected.
	Way      string
	DownRate float64 // payload bytes/s from the peer (smoothed)
	UpRate   float64 // payload bytes/s to the peer
	Fails    int     // dials failed in a row
	Banned   bool
	Attempts []Attempt // the last few dials, oldest first
}

// maxPeerStatus bounds the addresses Peers returns (connected ones first).
const maxPeerStatus = 200

// Peers returns the connected peers and the known addresses we tried,
// connected first, at most maxPeerStatus of them, or nil if ctx ends first.
func (t *Torrent) Peers(ctx context.Context) []PeerStatus {
	ps, _ := ask(ctx, t, t.peerStatus)
	return ps
}

func (t *Torrent) peerStatus() []PeerStatus {
	var out []PeerStatus
	seen := map[netip.AddrPort]bool{}
	for p := range t.peers {
		ps := PeerStatus{Addr: p.addr, Connected: true, Incoming: !p.outgoing, Way: p.way.String(), DownRate: p.rate, UpRate: p.upRate}
		if k := t.known[p.addr]; k != nil && p.outgoing {
			ps.Attempts = append([]Attempt(nil), k.attempts...)
		}
		seen[p.addr] = true
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DownRate+out[i].UpRate > out[j].DownRate+out[j].UpRate })
	var rest []PeerStatus
	for a, k := range t.known {
		banned := t.cl.guard.isBanned(a.Addr())
		if seen[a] || k.self || len(k.attempts) == 0 && !banned {
			continue
		}
		rest = append(rest, PeerStatus{Addr: a, Fails: k.fails, Banned: banned, Attempts: append([]Attempt(nil), k.attempts...)})
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].Addr.String() < rest[j].Addr.String() })
	out = append(out, rest...)
	if len(out) > maxPeerStatus {
		out = out[:maxPeerStatus]
	}
	return out
}
