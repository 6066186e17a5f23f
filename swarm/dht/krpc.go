package dht

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/btfs/btfs/swarm/bencode"
)

// Bounds of the wire format.
const (
	maxPacket       = 8 << 10 // larger datagrams are dropped unread
	maxTxnLen       = 32      // longest transaction id we echo in an answer
	maxTokenLen     = 64      // longest token kept from a reply
	maxNodesIn      = 100     // compact nodes examined in one reply
	maxValuesIn     = 200     // values examined in one reply
	compactNodeLen  = 26      // 20-byte id, 4-byte IPv4 address, 2-byte port
	compactNode6Len = 38      // 20-byte id, 16-byte IPv6 address, 2-byte port (BEP 32)
	clientVersion   = "BF01"  // the "v" key of every message we send
)

// KRPC error codes (BEP 5).
const (
	codeGeneric  = 201
	codeProtocol = 203
	codeMethod   = 204
)

// Query methods.
const (
	qPing         = "ping"
	qFindNode     = "find_node"
	qGetPeers     = "get_peers"
	qAnnouncePeer = "announce_peer"
)

// msg is one decoded KRPC message. Its slices alias the datagram.
type msg struct {
	t    []byte        // transaction id
	y    byte          // 'q', 'r' or 'e'
	q    []byte        // query method
	a    bencode.Value // query arguments (a dictionary)
	r    bencode.Value // response values (a dictionary)
	code int64         // error code
	text []byte        // error message
}

var (
	errNotDict  = errors.New("krpc: message is not a dictionary")
	errNoTxn    = errors.New("krpc: missing or oversized transaction id")
	errBadType  = errors.New("krpc: missing or unknown message type")
	errBadQuery = errors.New("krpc: query without method or arguments")
	errBadReply = errors.New("krpc: response without values")
	errTooLarge = errors.New("krpc: datagram too large")
)

// parseMsg decodes one KRPC message from a datagram. When the error
// concerns the contents of a query, m.t and m.y are set so that a 203
// error can still be sent; otherwise m.t is nil.
func parseMsg(b []byte) (m msg, err error) {
	if len(b) > maxPacket {
		return m, errTooLarge
	}
	v, err := bencode.Decode(b)
	if err != nil {
		return m, fmt.Errorf("krpc: %w", err)
	}
	if v.Kind() != bencode.Dict {
		return m, errNotDict
	}
	t := v.Get("t")
	if t.Kind() != bencode.String || len(t.Bytes()) > maxTxnLen {
		return m, errNoTxn
	}
	y := v.Get("y")
	if y.Kind() != bencode.String || len(y.Bytes()) != 1 {
		return m, errBadType
	}
	m.t, m.y = t.Bytes(), y.Bytes()[0]
	switch m.y {
	case 'q':
		q, a := v.Get("q"), v.Get("a")
		if q.Kind() != bencode.String || a.Kind() != bencode.Dict {
			return m, errBadQuery
		}
		m.q, m.a = q.Bytes(), a
	case 'r':
		if m.r = v.Get("r"); m.r.Kind() != bencode.Dict {
			return m, errBadReply
		}
	case 'e':
		// The list [code, message] is read leniently: a node's error
		// is a failure whatever its shape.
		for i, e := range v.Get("e").Items() {
			switch {
			case i == 0 && e.Kind() == bencode.Int:
				m.code = e.Int()
			case i == 1 && e.Kind() == bencode.String:
				m.text = e.Bytes()
			}
		}
	default:
		m.t = nil
		return m, errBadType
	}
	return m, nil
}

// id20 returns the 20-byte string stored under key in dictionary d.
func id20(d bencode.Value, key string) (id [20]byte, ok bool) {
	v := d.Get(key)
	if v.Kind() != bencode.String || len(v.Bytes()) != 20 {
		return id, false
	}
	copy(id[:], v.Bytes())
	return id, true
}

// nodeInfo is a node's contact: its id and UDP address.
type nodeInfo struct {
	id   [20]byte
	addr netip.AddrPort
}

// usable reports whether addr may be contacted: a unicast address and a
// non-zero port; for IPv6, neither link-local (it needs a zone, which
// compact forms cannot carry) nor IPv4-mapped (callers unmap first).
// Loopback addresses are only usable when they come from a loopback
// source, so a remote node cannot point us at our own host.
func usable(addr netip.AddrPort, from netip.Addr) bool {
	ip := addr.Addr()
	switch {
	case addr.Port() == 0, !ip.IsValid(), ip.IsUnspecified(), ip.IsMulticast(), ip.Zone() != "",
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}),
		ip.Is6() && (ip.IsLinkLocalUnicast() || ip.Is4In6()):
		return false
	case ip.IsLoopback():
		return from.IsLoopback()
	}
	return true
}

// compactAddr decodes a 6-byte (IPv4) or 18-byte (IPv6) compact address.
func compactAddr(b []byte) netip.AddrPort {
	var ip netip.Addr
	switch len(b) {
	case 6:
		ip = netip.AddrFrom4([4]byte(b[:4]))
	case 18:
		ip = netip.AddrFrom16([16]byte(b[:16])).Unmap()
	default:
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip, uint16(b[len(b)-2])<<8|uint16(b[len(b)-1]))
}

// parseNodes appends the usable contacts of a compact "nodes" string to
// dst, examining at most max entries. A string whose length is not a
// multiple of 26 is rejected whole.
func parseNodes(dst []nodeInfo, b []byte, max int, from netip.Addr) []nodeInfo {
	if len(b)%compactNodeLen != 0 {
		return dst
	}
	for i := 0; len(b) > 0 && i < max; i++ {
		e := b[:compactNodeLen]
		b = b[compactNodeLen:]
		if addr := compactAddr(e[20:]); usable(addr, from) {
			dst = append(dst, nodeInfo{id: [20]byte(e[:20]), addr: addr})
		}
	}
	return dst
}

// parseNodes6 appends the usable contacts of a BEP 32 "nodes6" string
// (38-byte entries) to dst, examining at most max entries. A string whose
// length is not a multiple of 38 is rejected whole, and so is each entry
// holding an IPv4-mapped address: IPv4 nodes belong in "nodes".
func parseNodes6(dst []nodeInfo, b []byte, max int, from netip.Addr) []nodeInfo {
	if len(b)%compactNode6Len != 0 {
		return dst
	}
	for i := 0; len(b) > 0 && i < max; i++ {
		e := b[:compactNode6Len]
		b = b[compactNode6Len:]
		ip := netip.AddrFrom16([16]byte(e[20:36]))
		addr := netip.AddrPortFrom(ip, uint16(e[36])<<8|uint16(e[37]))
		if usable(addr, from) {
			dst = append(dst, nodeInfo{id: [20]byte(e[:20]), addr: addr})
		}
	}
	return dst
}

// parseValues appends the usable peers of a "values" list (compact
// 6-byte IPv4 or 18-byte IPv6 strings) to dst, examining at most max
// elements.
func parseValues(dst []netip.AddrPort, list bencode.Value, max int, from netip.Addr) []netip.AddrPort {
	for i, v := range list.Items() {
		if i >= max {
			break
		}
		if v.Kind() != bencode.String {
			continue
		}
		if addr := compactAddr(v.Bytes()); usable(addr, from) {
			dst = append(dst, addr)
		}
	}
	return dst
}
