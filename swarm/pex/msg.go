// Package pex implements BEP 11 peer exchange (ut_pex): the message that
// tells a peer which addresses joined and left our swarm, and a Sender that
// builds the next such message for one peer. It is pure: no goroutines, no
// I/O.
package pex

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/btfs/btfs/swarm/bencode"
	zbencode "github.com/zeebo/bencode"
)

// Flags of an added peer (BEP 11).
const (
	PrefersEncryption byte = 0x01
	Seed              byte = 0x02 // seed or upload only
	UTP               byte = 0x04 // supports uTP
	Holepunch         byte = 0x08 // supports ut_holepunch
	Reachable         byte = 0x10 // we connected to it: it accepts connections
)

// MaxPerMessage is the BEP 11 limit on added peers, and on dropped peers,
// in one message, IPv4 and IPv6 together.
const MaxPerMessage = 50

// MaxParsed is the number of added and of dropped entries ParseMsg
// considers per address family; later entries are ignored.
const MaxParsed = 200

// Peer is an added peer.
type Peer struct {
	Addr  netip.AddrPort
	Flags byte
}

// Msg is one ut_pex message.
type Msg struct {
	Added   []Peer
	Dropped []netip.AddrPort
}

// msgDict is the wire form of Msg.
type msgDict struct {
	Added    []byte `bencode:"added,omitempty"`
	AddedF   []byte `bencode:"added.f,omitempty"`
	Added6   []byte `bencode:"added6,omitempty"`
	Added6F  []byte `bencode:"added6.f,omitempty"`
	Dropped  []byte `bencode:"dropped,omitempty"`
	Dropped6 []byte `bencode:"dropped6,omitempty"`
}

// AppendBinary appends the bencoded message to b: IPv4 peers (IPv4-mapped
// ones included) in added, added.f and dropped, IPv6 peers in added6,
// added6.f and dropped6, in compact form; empty keys are omitted. It fails
// on an invalid address. It does not enforce MaxPerMessage: Sender does.
func (m Msg) AppendBinary(b []byte) ([]byte, error) {
	var d msgDict
	for _, p := range m.Added {
		if !p.Addr.IsValid() {
			return b, fmt.Errorf("ut_pex: added: invalid address %v", p.Addr)
		}
		ip := p.Addr.Addr().Unmap()
		if ip.Is4() {
			d.Added, d.AddedF = appendCompact(d.Added, ip, p.Addr.Port()), append(d.AddedF, p.Flags)
		} else {
			d.Added6, d.Added6F = appendCompact(d.Added6, ip, p.Addr.Port()), append(d.Added6F, p.Flags)
		}
	}
	for _, a := range m.Dropped {
		if !a.IsValid() {
			return b, fmt.Errorf("ut_pex: dropped: invalid address %v", a)
		}
		ip := a.Addr().Unmap()
		if ip.Is4() {
			d.Dropped = appendCompact(d.Dropped, ip, a.Port())
		} else {
			d.Dropped6 = appendCompact(d.Dropped6, ip, a.Port())
		}
	}
	enc, err := zbencode.EncodeBytes(d)
	if err != nil {
		return b, fmt.Errorf("ut_pex: %w", err)
	}
	return append(b, enc...), nil
}

func appendCompact(b []byte, ip netip.Addr, port uint16) []byte {
	b = append(b, ip.AsSlice()...)
	return binary.BigEndian.AppendUint16(b, port)
}

// ParseMsg decodes a ut_pex payload, which must be one strict bencoded
// dictionary; unknown keys are ignored. added, added6, dropped and dropped6
// must be strings of whole 6-byte (IPv4) or 18-byte (IPv6) entries; only the
// first MaxParsed entries of each are considered, and entries with port 0 or
// an unspecified or multicast address are skipped. IPv4-mapped addresses in
// the IPv6 lists are unmapped. added.f and added6.f give the flags of the
// entries in the same position; missing flags are 0.
func ParseMsg(payload []byte) (Msg, error) {
	d, err := bencode.Decode(payload)
	if err != nil {
		return Msg{}, fmt.Errorf("ut_pex: %w", err)
	}
	if d.Kind() != bencode.Dict {
		return Msg{}, fmt.Errorf("ut_pex: message is a %v, want a dictionary", d.Kind())
	}
	var m Msg
	for _, fam := range []struct {
		added, flags, dropped string
		size                  int
	}{{"added", "added.f", "dropped", 6}, {"added6", "added6.f", "dropped6", 18}} {
		added, err := compact(d, fam.added, fam.size)
		if err != nil {
			return Msg{}, err
		}
		var flags []byte
		if v := d.Get(fam.flags); v.Kind() == bencode.String {
			flags = v.Bytes()
		}
		for i := range len(added) / fam.size {
			if a, ok := entry(added, i, fam.size); ok {
				p := Peer{Addr: a}
				if i < len(flags) {
					p.Flags = flags[i]
				}
				m.Added = append(m.Added, p)
			}
		}
		dropped, err := compact(d, fam.dropped, fam.size)
		if err != nil {
			return Msg{}, err
		}
		for i := range len(dropped) / fam.size {
			if a, ok := entry(dropped, i, fam.size); ok {
				m.Dropped = append(m.Dropped, a)
			}
		}
	}
	return m, nil
}

// compact returns the compact list under key in d, entries of size bytes,
// cut to its first MaxParsed entries.
func compact(d bencode.Value, key string, size int) ([]byte, error) {
	v := d.Get(key)
	if v == nil {
		return nil, nil
	}
	if v.Kind() != bencode.String {
		return nil, fmt.Errorf("ut_pex: %s is a %v, want a string", key, v.Kind())
	}
	b := v.Bytes()
	if len(b)%size != 0 {
		return nil, fmt.Errorf("ut_pex: %s: %d bytes, not a multiple of %d", key, len(b), size)
	}
	return b[:min(len(b), MaxParsed*size)], nil
}

// entry decodes entry i of a compact list of size-byte entries, and reports
// whether it is usable; IPv4-mapped addresses are unmapped.
func entry(b []byte, i, size int) (netip.AddrPort, bool) {
	e := b[i*size : (i+1)*size]
	ip, _ := netip.AddrFromSlice(e[:size-2])
	a := netip.AddrPortFrom(ip.Unmap(), binary.BigEndian.Uint16(e[size-2:]))
	return a, usable(a)
}

// usable reports whether a is worth telling or connecting to: a valid
// address, not unspecified or multicast, with a port.
func usable(a netip.AddrPort) bool {
	ip := a.Addr()
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsMulticast() && a.Port() != 0
}
