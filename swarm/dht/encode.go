package dht

import (
	"net/netip"
	"strconv"
)

// appendCompactAddr appends addr in compact form.
func appendCompactAddr(b []byte, addr netip.AddrPort) []byte {
	if ip := addr.Addr(); ip.Is4() {
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
}

// appendQuery appends a query with transaction id t from node id.
func appendQuery(b, t []byte, id [20]byte, q *query) []byte {
	b = append(b, "d1:ad2:id20:"...)
	b = append(b, id[:]...)
	switch q.method {
	case qFindNode:
		b = append(b, "6:target20:"...)
		b = append(b, q.target[:]...)
	case qGetPeers:
		b = append(b, "9:info_hash20:"...)
		b = append(b, q.target[:]...)
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
	withNodes bool // find_node and get_peers carry "nodes", even empty
	nodes     []nodeInfo
	token     []byte           // get_peers: nil omits the key
	values    []netip.AddrPort // get_peers: empty omits the key
}

// appendResponse appends a response with transaction id t from node id.
// IPv6 contacts are left out of "nodes" (BEP 32 nodes6 is not sent).
func appendResponse(b, t []byte, id [20]byte, r *response) []byte {
	b = append(b, "d1:rd2:id20:"...)
	b = append(b, id[:]...)
	if r.withNodes {
		n := 0
		for _, c := range r.nodes {
			if c.addr.Addr().Is4() {
				n++
			}
		}
		b = append(b, "5:nodes"...)
		b = strconv.AppendInt(b, int64(n*compactNodeLen), 10)
		b = append(b, ':')
		for _, c := range r.nodes {
			if c.addr.Addr().Is4() {
				b = append(b, c.id[:]...)
				b = appendCompactAddr(b, c.addr)
			}
		}
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

// appendError appends an error message with transaction id t.
func appendError(b, t []byte, code int, text string) []byte {
	b = append(b, "d1:eli"...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, 'e')
	b = appendStr(b, text)
	b = append(b, 'e')
	return appendTail(b, t, 'e')
}
