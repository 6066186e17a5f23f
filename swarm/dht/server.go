package dht

import (
	"net/netip"
	"time"

	"github.com/btfs/btfs/swarm/bencode"
)

// handlePacket admits and handles one datagram (the reader's and the
// loop's work in one call, for tests, fuzzing and benchmarks).
func (n *Node) handlePacket(b []byte, from netip.AddrPort, now time.Time) {
	if m, err, ok := n.admit(b, from, now); ok {
		n.handle(&m, err, from, now)
	}
}

// admit decodes a datagram on the reader goroutine and applies the rate
// limits there, so that a flood is dropped before it can crowd the
// loop's queue. It reports whether the loop should see the message.
// from is unmapped.
func (n *Node) admit(b []byte, from netip.AddrPort, now time.Time) (msg, error, bool) {
	if !n.admissible(from) || n.isSelf(from) {
		return msg{}, nil, false
	}
	m, err := parseMsg(b)
	switch {
	case m.y == 'q' && m.t != nil:
		n.queriesIn.Add(1)
		if !n.limit.allow(from.Addr(), now) {
			n.queriesDropped.Add(1)
			return m, err, false
		}
		return m, err, true
	case err != nil:
		return m, err, false
	}
	return m, nil, n.limit.allowOther(from.Addr(), now)
}

// handle answers a query, or matches a response to our transaction.
func (n *Node) handle(m *msg, err error, from netip.AddrPort, now time.Time) {
	switch m.y {
	case 'q':
		n.handleQuery(m, err == nil, from, now)
	case 'r', 'e':
		n.handleResponse(m, from, now)
	}
}

// handleQuery answers a query; a malformed one gets error 203, an unknown
// method 204. Every answer is a single datagram of bounded size.
func (n *Node) handleQuery(m *msg, wellFormed bool, from netip.AddrPort, now time.Time) {
	id, ok := id20(m.a, "id")
	if !wellFormed || !ok {
		n.answerError(m.t, codeProtocol, "malformed query", from)
		return
	}
	var r response
	switch string(m.q) {
	case qPing:
	case qFindNode:
		target, ok := id20(m.a, "target")
		if !ok {
			n.answerError(m.t, codeProtocol, "find_node needs a 20-byte target", from)
			return
		}
		n.nearest(&r, target, m.a, from)
	case qGetPeers:
		ih, ok := id20(m.a, "info_hash")
		if !ok {
			n.answerError(m.t, codeProtocol, "get_peers needs a 20-byte info_hash", from)
			return
		}
		n.tok = n.tokens.token(from.Addr())
		r.token = n.tok[:]
		n.nearest(&r, ih, m.a, from)
		// Peers of the querier's family only: the IPv4 and IPv6 DHTs
		// are independent (BEP 32).
		f := familyOf(from.Addr())
		r.values = n.store.peers(ih, now, valuesOut(f), 1<<f, n.vals[:0])
		n.vals = r.values[:0]
	case qAnnouncePeer:
		ih, ok := id20(m.a, "info_hash")
		if !ok {
			n.answerError(m.t, codeProtocol, "announce_peer needs a 20-byte info_hash", from)
			return
		}
		if tok := m.a.Get("token"); tok.Kind() != bencode.String || !n.tokens.valid(tok.Bytes(), from.Addr()) {
			n.answerError(m.t, codeProtocol, "bad token", from)
			return
		}
		port := from.Port()
		if ip := m.a.Get("implied_port"); ip.Kind() != bencode.Int || ip.Int() == 0 {
			p := m.a.Get("port")
			if p.Kind() != bencode.Int || p.Int() < 1 || p.Int() > 65535 {
				n.answerError(m.t, codeProtocol, "announce_peer needs a port", from)
				return
			}
			port = uint16(p.Int())
		}
		n.store.add(ih, netip.AddrPortFrom(from.Addr(), port), now)
	default:
		n.answerError(m.t, codeMethod, "method unknown", from)
		return
	}
	n.out = appendResponse(n.out[:0], m.t, n.id, &r)
	n.reply(from)
	n.noteQuerier(id, m.a, from, now)
}

// valuesOut bounds the values of a get_peers answer by family, so that
// the answer, with nodes of both families, fits a 1232-byte datagram
// (the IPv6 minimum MTU less the headers).
func valuesOut(f family) int {
	if f == fam6 {
		return maxValuesOut6
	}
	return maxValuesOut
}

// nearest puts in r the k nodes closest to target of each family the
// querier wants and we use; the querier itself is left out.
func (n *Node) nearest(r *response, target [20]byte, args bencode.Value, from netip.AddrPort) {
	w := wanted(args, from.Addr()) & n.fams
	if w.has(fam4) {
		r.withNodes, r.nodes = true, n.tables[fam4].closest(target, n.near[fam4][:0], bucketSize, from)
	}
	if w.has(fam6) {
		r.withNodes6, r.nodes6 = true, n.tables[fam6].closest(target, n.near[fam6][:0], bucketSize, from)
	}
}

// wanted returns the families a find_node or get_peers query asks nodes
// of: those of its BEP 32 "want" ("n4", "n6"; the first 4 elements are
// read), or without one the family the query came over.
func wanted(args bencode.Value, from netip.Addr) famSet {
	w := args.Get("want")
	if w.Kind() != bencode.List {
		return 1 << familyOf(from)
	}
	var s famSet
	for i, v := range w.Items() {
		if i >= 4 {
			break
		}
		if v.Kind() != bencode.String {
			continue
		}
		switch string(v.Bytes()) {
		case "n4":
			s |= set4
		case "n6":
			s |= set6
		}
	}
	return s
}

func (n *Node) answerError(t []byte, code int, text string, to netip.AddrPort) {
	n.out = appendError(n.out[:0], t, code, text)
	n.reply(to)
}

func (n *Node) reply(to netip.AddrPort) {
	if err := n.write(n.out, to); err != nil {
		n.log.Debug("dht: answer", "to", to, "err", err)
	}
}

// noteQuerier refreshes a querying node in the table, or pings it when
// the table would take it (BEP 43 read-only nodes excepted).
func (n *Node) noteQuerier(id [20]byte, args bencode.Value, from netip.AddrPort, now time.Time) {
	t := n.tableOf(from)
	if id == n.id || t.queried(id, from, now) {
		return
	}
	if ro := args.Get("ro"); ro.Kind() == bencode.Int && ro.Int() == 1 {
		return
	}
	if t.accepts(id, now) {
		n.ping(from, now)
	}
}
