package pex

import (
	"net/netip"
	"slices"
)

// Sender remembers what one peer has been told and builds the next message
// for it from the current set of connected peers. The zero Sender is ready:
// its first message carries up to MaxPerMessage current peers. A Sender is
// not safe for concurrent use.
//
// It remembers the addresses it told as added and has not yet told as
// dropped. Each message adds at most MaxPerMessage and drops up to
// MaxPerMessage of those gone, so the memory stays within the largest
// current set plus 2*MaxPerMessage addresses.
type Sender struct {
	told map[netip.AddrPort]struct{}
}

// Next returns the message to send now, or false when there is nothing to
// say: the peers of current not told yet (in the order given, at most
// MaxPerMessage, the rest next time) and the peers told but no longer in
// current (at most MaxPerMessage, in address order). It records the message
// as sent. current should not include the peer the message is for; unusable
// addresses in it (port 0, unspecified, multicast) are skipped, and a repeated
// address counts once.
func (s *Sender) Next(current []Peer) (Msg, bool) {
	if s.told == nil {
		s.told = make(map[netip.AddrPort]struct{})
	}
	now := make(map[netip.AddrPort]struct{}, len(current))
	var m Msg
	for _, p := range current {
		a := unmap(p.Addr)
		if _, dup := now[a]; dup || !usable(a) {
			continue
		}
		now[a] = struct{}{}
		if _, ok := s.told[a]; !ok && len(m.Added) < MaxPerMessage {
			m.Added = append(m.Added, Peer{Addr: a, Flags: p.Flags})
		}
	}
	for a := range s.told {
		if _, ok := now[a]; !ok {
			m.Dropped = append(m.Dropped, a)
		}
	}
	slices.SortFunc(m.Dropped, netip.AddrPort.Compare)
	m.Dropped = m.Dropped[:min(len(m.Dropped), MaxPerMessage)]
	for _, p := range m.Added {
		s.told[p.Addr] = struct{}{}
	}
	for _, a := range m.Dropped {
		delete(s.told, a)
	}
	return m, len(m.Added) > 0 || len(m.Dropped) > 0
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
