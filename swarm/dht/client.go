package dht

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/btfs/btfs/swarm/bencode"
)

// pending is a query of ours awaiting an answer. Its transaction id is 4
// random bytes, and only an answer from the address we queried matches.
type pending struct {
	addr     netip.AddrPort
	deadline time.Time
	resC     chan<- reply // nil for the node's own pings
}

// reply is what a lookup learns from one query: the answer (with copies
// of bounded parts of it), an error response, or a timeout.
type reply struct {
	addr   netip.AddrPort
	id     [20]byte
	err    error
	nodes  []nodeInfo       // "nodes": at most maxNodesIn
	nodes6 []nodeInfo       // "nodes6": at most maxNodesIn
	values []netip.AddrPort // at most maxValuesIn
	token  []byte           // at most maxTokenLen bytes
}

var (
	errTimeout = errors.New("dht: query timed out")
	errBusy    = errors.New("dht: too many queries in flight")
	errNoID    = errors.New("dht: response without a valid node id")
)

// query sends q to addr for a lookup; exactly one reply (answer, error or
// timeout) will arrive on resC unless an error is returned.
func (n *Node) query(ctx context.Context, addr netip.AddrPort, q *query, resC chan<- reply) error {
	var err error
	if e := n.do(ctx, func() { err = n.send(addr, q, resC, time.Now()) }); e != nil {
		return e
	}
	return err
}

// send writes query q to addr and registers its transaction.
func (n *Node) send(addr netip.AddrPort, q *query, resC chan<- reply, now time.Time) error {
	if len(n.pending) >= maxPending {
		return errBusy
	}
	if n.isSelf(addr) {
		return errors.New("dht: query to our own address")
	}
	if !n.fams.hasAddr(addr.Addr()) {
		return fmt.Errorf("dht: %s to %s: address family not used by the socket", q.method, addr)
	}
	tid := rand.Uint32()
	for _, used := n.pending[tid]; used; _, used = n.pending[tid] {
		tid = rand.Uint32()
	}
	var t [4]byte
	binary.BigEndian.PutUint32(t[:], tid)
	n.out = appendQuery(n.out[:0], t[:], n.id, q)
	if err := n.write(n.out, addr); err != nil {
		return fmt.Errorf("dht: %s to %s: %w", q.method, addr, err)
	}
	n.pending[tid] = pending{addr: addr, deadline: now.Add(queryTimeout), resC: resC}
	return nil
}

// ping sends our own ping to addr (at most one at a time per address,
// and only while half the transaction slots are free); the answer puts
// the node in the table.
func (n *Node) ping(addr netip.AddrPort, now time.Time) {
	if _, ok := n.pinging[addr]; ok || len(n.pending) >= maxPending/2 {
		return
	}
	if n.send(addr, &query{method: qPing}, nil, now) == nil {
		n.pinging[addr] = struct{}{}
	}
}

// handleResponse matches a response or error message to our pending
// transaction; anything else is dropped.
func (n *Node) handleResponse(m *msg, from netip.AddrPort, now time.Time) {
	if len(m.t) != 4 {
		return
	}
	tid := binary.BigEndian.Uint32(m.t)
	p, ok := n.pending[tid]
	if !ok || p.addr != from {
		return // unknown transaction, or an answer from the wrong address
	}
	delete(n.pending, tid)
	if p.resC == nil {
		delete(n.pinging, p.addr)
	}
	n.responsesIn.Add(1)
	rep := reply{addr: from}
	t := n.tableOf(from)
	if m.y == 'e' {
		rep.err = fmt.Errorf("dht: %s answered error %d %q", from, m.code, m.text)
		if id, known := t.addrs[from]; known {
			t.replied(id, from, now) // alive, whatever it thinks of us
		}
	} else if id, ok := id20(m.r, "id"); !ok || id == n.id {
		rep.err = errNoID
		t.failed(from)
	} else {
		rep.id = id
		t.replied(id, from, now)
		if p.resC != nil {
			readReply(m.r, from.Addr(), &rep)
		}
	}
	if p.resC != nil {
		select {
		case p.resC <- rep:
		default: // the lookup reads every reply it asked for; never block the loop
		}
	}
}

// readReply copies the bounded, validated parts of a response for a lookup.
func readReply(r bencode.Value, from netip.Addr, rep *reply) {
	if v := r.Get("nodes"); v.Kind() == bencode.String && len(v.Bytes()) > 0 {
		dst := make([]nodeInfo, 0, min(len(v.Bytes())/compactNodeLen, maxNodesIn))
		rep.nodes = parseNodes(dst, v.Bytes(), maxNodesIn, from)
	}
	if v := r.Get("nodes6"); v.Kind() == bencode.String && len(v.Bytes()) > 0 {
		dst := make([]nodeInfo, 0, min(len(v.Bytes())/compactNode6Len, maxNodesIn))
		rep.nodes6 = parseNodes6(dst, v.Bytes(), maxNodesIn, from)
	}
	if v := r.Get("values"); v.Kind() == bencode.List {
		dst := make([]netip.AddrPort, 0, min(v.Len(), maxValuesIn))
		rep.values = parseValues(dst, v, maxValuesIn, from)
	}
	if v := r.Get("token"); v.Kind() == bencode.String && len(v.Bytes()) <= maxTokenLen {
		rep.token = bytes.Clone(v.Bytes())
	}
}

// expire ends the transactions whose time is up: the node is marked
// failed in the table and the waiting lookup is told.
func (n *Node) expire(now time.Time) {
	for tid, p := range n.pending {
		if now.Before(p.deadline) {
			continue
		}
		delete(n.pending, tid)
		n.tableOf(p.addr).failed(p.addr)
		if p.resC == nil {
			delete(n.pinging, p.addr)
			continue
		}
		select {
		case p.resC <- reply{addr: p.addr, err: errTimeout}:
		default:
		}
	}
}
