package dht

import (
	"net/netip"
	"strconv"
)

// appendCompactAddr appends addr in compact form.
func appendCompactAddr(b []byte, addr netip.AddrPort) []byte {
	if ip := addr.Addr().Unmap(); ip.Is4() {
		a := ip.As4()
		b = append(b, a[:]...)
	} else {
		a := ip.As16()
		b = append(b, a[:]...)
	}
	return append(b, byte(addr.Port()>>8), byte(addr.Port()))
}

// Encoding appends bencode by hand into one reused buffer: every message
// has a fixed shape, the keys are written in sorted order, and nothing is
// allocated. TestEncodeCanonical checks it against zeebo/bencode.

func appendBytes(b, s []byte) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func appendStr(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func appendInt(b []byte, i int64) []byte {
	b = append(b, 'i')
	b = strconv.AppendInt(b, i, 10)
	return append(b, 'e')
}

// query is an outgoing query's method and arguments beyond our id.
type query struct {
	method string
	target [20]byte // find_node target; get_peers and announce_peer info_hash
	port   uint16   // announce_peer
	token  []byte   // announce_peer
	want   famSet   // find_node and get_peers: BEP 32 "want"; empty omits the key
}

// appendQuery appends a query with transaction id t from node id.
func appendQuery(b, t []byte, id [20]byte, q *query) []byte {
	b = append(b, "d1:ad2:id20:"...)
	b = append(b, id[:]...)
	switch q.method {
	case qFindNode:
		b = append(b, "6:target20:"...)
		b = append(b, q.target[:]...)
		b = appendWant(b, q.want)
	case qGetPeers:
		b = append(b, "9:info_hash20:"...)
		b = append(b, q.target[:]...)
		b = appendWant(b, q.want)
	case qAnnouncePeer:
		b = append(b, "12:implied_porti0e9:info_hash20:"...)
		b = append(b, q.target[:]...)
		b = append(b, "4:port"...)
		b = appendInt(b, int64(q.port))
		b = append(b, "5:token"...)
		b = appendBytes(b, q.token)
	}
	b = append(b, "e1:q"...)
	b = appendStr(b, q.method)
	return appendTail(b, t, 'q')
}

// appendWant appends the "want" key listing the families of w, if any.
func appendWant(b []byte, w famSet) []byte {
	if w == 0 {
		return b
	}
	b = append(b, "4:wantl"...)
	for f := range numFams {
		if w.has(f) {
			b = appendStr(b, f.wantKey())
		}
	}
	return append(b, 'e')
}

// appendTail appends the t, v and y keys and closes the message.
func appendTail(b, t []byte, y byte) []byte {
	b = append(b, "1:t"...)
	b = appendBytes(b, t)
	b = append(b, "1:v"...)
	b = appendStr(b, clientVersion)
	return append(b, '1', ':', 'y', '1', ':', y, 'e')
}

// response is an outgoing response's values beyond our id.
type response struct {
	withNodes  bool // find_node and get_peers carry "nodes", even empty
	nodes      []nodeInfo
	withNodes6 bool // ... and "nodes6" (BEP 32), even empty
	nodes6     []nodeInfo
	token      []byte           // get_peers: nil omits the key
	values     []netip.AddrPort // get_peers: empty omits the key
}

// appendResponse appends a response with transaction id t from node id.
// Only IPv4 contacts go in "nodes" and only IPv6 ones in "nodes6".
func appendResponse(b, t []byte, id [20]byte, r *response) []byte {
	b = append(b, "d1:rd2:id20:"...)
	b = append(b, id[:]...)
	if r.withNodes {
		b = appendNodes(append(b, "5:nodes"...), r.nodes, fam4)
	}
	if r.withNodes6 {
		b = appendNodes(append(b, "6:nodes6"...), r.nodes6, fam6)
	}
	if r.token != nil {
		b = append(b, "5:token"...)
		b = appendBytes(b, r.token)
	}
	if len(r.values) > 0 {
		b = append(b, "6:valuesl"...)
		for _, v := range r.values {
			if v.Addr().Is4() {
				b = append(b, "6:"...)
			} else {
				b = append(b, "18:"...)
			}
			b = appendCompactAddr(b, v)
		}
		b = append(b, 'e')
	}
	b = append(b, 'e')
	return appendTail(b, t, 'r')
}

// appendNodes appends the contacts of family f among nodes as one compact
// string.
func appendNodes(b []byte, nodes []nodeInfo, f family) []byte {
	size := compactNodeLen
	if f == fam6 {
		size = compactNode6Len
	}
	n := 0
	for _, c := range nodes {
		if familyOf(c.addr.Addr()) == f {
			n++
		}
	}
	b = strconv.AppendInt(b, int64(n*size), 10)
	b = append(b, ':')
	for _, c := range nodes {
		if familyOf(c.addr.Addr()) == f {
			b = append(b, c.id[:]...)
			b = appendCompactAddr(b, c.addr)
		}
	}
	return b
}

// appendError appends an error message with transaction id t.
func appendError(b, t []byte, code int, text string) []byte {
	b = append(b, "d1:eli"...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, 'e')
	b = appendStr(b, text)
	b = append(b, 'e')
	return appendTail(b, t, 'e')
}
