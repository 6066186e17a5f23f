package main

import (
	"bufio"
	"crypto/rand"
	"io"
	"sync/atomic"
	"time"

	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/wire"
)

// behaviours maps each peer attack to what it does after the handshake.
var behaviours = map[string]func(a *peerAttack, s *session) error{
	"badhash":     badhash,
	"stealid":     badhash,
	"reqflood":    reqflood,
	"unsolicited": unsolicited,
	"keepalive":   keepalive,
	"trickle":     trickle,
	"chokeflap":   chokeflap,
}

// garbage is what bad blocks carry: random bytes, shared read-only.
var garbage = func() []byte {
	b := make([]byte, wire.MaxBlockLen)
	_, _ = rand.Read(b)
	return b
}()

// badTaken counts the garbage blocks handed out, against -bad.
var badTaken atomic.Int64

// floodChunk is about how many bytes one write of a flood carries.
const floodChunk = 64 << 10

// haveAll appends have-all, or a full bitfield if either side lacks the
// fast extension.
func (a *peerAttack) haveAll(s *session, b []byte) []byte {
	if s.theirs.Fast() && !a.noFast {
		b, _ = (&wire.Message{ID: wire.HaveAll}).AppendBinary(b)
		return b
	}
	n := a.layout.NumPieces
	bits := make([]byte, (n+7)/8)
	for i := range n {
		bits[i/8] |= 0x80 >> (i % 8)
	}
	b, _ = (&wire.Message{ID: wire.Bitfield, Payload: bits}).AppendBinary(b)
	return b
}

// send writes b, which holds msgs messages.
func (a *peerAttack) send(s *session, b []byte, msgs int) error {
	_, err := s.conn.Write(b)
	if err != nil {
		if timedOut(err) {
			a.st.writeStalls.Add(1)
		}
		return err
	}
	a.st.msgsSent.Add(int64(msgs))
	return nil
}

// newReader decodes the target's messages.
func (a *peerAttack) newReader(s *session) *wire.Reader {
	return wire.NewReader(bufio.NewReaderSize(s.conn, 64<<10), wire.Limits{MaxBitfield: (a.layout.NumPieces + 7) / 8})
}

// badhash claims every piece, unchokes, and answers each request with a
// garbage block (after -bad of them, with a genuine block from -data, or
// not at all).
func badhash(a *peerAttack, s *session) error {
	out := a.haveAll(s, nil)
	out, _ = (&wire.Message{ID: wire.Unchoke}).AppendBinary(out)
	if err := a.send(s, out, 2); err != nil {
		return err
	}
	r := a.newReader(s)
	block := make([]byte, wire.MaxBlockLen)
	for {
		m, err := r.Read()
		if err != nil {
			return err
		}
		if m.KeepAlive || m.ID != wire.Request {
			continue
		}
		a.st.requestsRecv.Add(1)
		if !a.layout.ValidBlock(m.Index, m.Begin, m.Length) {
			continue
		}
		b, bad := block[:m.Length], false
		switch {
		case a.bad == 0 || badTaken.Add(1) <= a.bad:
			copy(b, garbage)
			bad = true
		case a.data != nil:
			if err := a.data.readBlock(a.layout, m.Index, m.Begin, b); err != nil {
				return err
			}
		default:
			continue // bad blocks spent, nothing genuine to send: silence
		}
		out = wire.AppendPiece(out[:0], m.Index, m.Begin, b)
		if err := a.send(s, out, 1); err != nil {
			return err
		}
		a.st.blocksSent.Add(1)
		if bad {
			a.st.badBlocks.Add(1)
		}
	}
}

// blockCursor walks every block of the torrent in order, round and round.
type blockCursor struct {
	l    metainfo.Layout
	p, b int
}

func (c *blockCursor) next() (index, begin, length uint32) {
	index, begin, length = uint32(c.p), uint32(c.b*metainfo.BlockSize), uint32(c.l.BlockSize(c.p, c.b))
	if c.b++; c.b == c.l.NumBlocks(c.p) {
		c.b, c.p = 0, (c.p+1)%c.l.NumPieces
	}
	return index, begin, length
}

// reqflood says interested (unless -interested=false), then sends
// requests for valid blocks as fast as the target takes them, and never
// reads a byte of its answers.
func reqflood(a *peerAttack, s *session) error {
	var out []byte
	if a.interested {
		out, _ = (&wire.Message{ID: wire.Interested}).AppendBinary(out)
		if err := a.send(s, out, 1); err != nil {
			return err
		}
	}
	const batch = floodChunk / 17
	c := blockCursor{l: a.layout}
	for {
		out = out[:0]
		for range batch {
			i, b, n := c.next()
			out = wire.AppendRequest(out, wire.Request, i, b, n)
		}
		if err := a.send(s, out, batch); err != nil {
			return err
		}
	}
}

// flood writes what next builds, as fast as the target reads it, while a
// reader discards what the target sends; it ends when either side does.
func (a *peerAttack) flood(s *session, first []byte, next func(b []byte) ([]byte, int)) error {
	rerr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, s.conn)
		if err == nil {
			err = io.EOF
		}
		rerr <- err
	}()
	err := a.send(s, first, 0)
	var out []byte
	for err == nil {
		var n int
		out, n = next(out[:0])
		err = a.send(s, out, n)
		select {
		case err = <-rerr:
			rerr <- err
		default:
		}
	}
	s.conn.Close()
	if re := <-rerr; closedByPeer(re) && !closedByPeer(err) && !timedOut(err) {
		err = re
	}
	return err
}

// unsolicited sends piece messages (garbage, for valid blocks) that
// nobody requested.
func unsolicited(a *peerAttack, s *session) error {
	c := blockCursor{l: a.layout}
	return a.flood(s, nil, func(b []byte) ([]byte, int) {
		n := 0
		for len(b) < floodChunk {
			i, begin, length := c.next()
			b = wire.AppendPiece(b, i, begin, garbage[:length])
			n++
		}
		a.st.blocksSent.Add(int64(n))
		a.st.badBlocks.Add(int64(n))
		return b, n
	})
}

// keepalive sends nothing but keep-alives.
func keepalive(a *peerAttack, s *session) error {
	zeros := make([]byte, floodChunk)
	return a.flood(s, nil, func([]byte) ([]byte, int) { return zeros, floodChunk / 4 })
}

// chokeflap claims every piece, then unchokes and chokes in turn.
func chokeflap(a *peerAttack, s *session) error {
	var flap []byte
	for len(flap) < floodChunk {
		flap, _ = (&wire.Message{ID: wire.Unchoke}).AppendBinary(flap)
		flap, _ = (&wire.Message{ID: wire.Choke}).AppendBinary(flap)
	}
	return a.flood(s, a.haveAll(s, nil), func([]byte) ([]byte, int) { return flap, len(flap) / 5 })
}

// trickle sends one byte every -every: of a piece message that never
// completes, or of keep-alives.
func trickle(a *peerAttack, s *session) error {
	var msg []byte
	if a.trickle == "piece" {
		msg = wire.AppendPiece(nil, 0, 0, garbage[:a.layout.BlockSize(0, 0)])
	} else {
		msg = make([]byte, 4)
	}
	rerr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, s.conn)
		if err == nil {
			err = io.EOF
		}
		rerr <- err
	}()
	defer func() { s.conn.Close(); <-rerr }()
	t := time.NewTicker(a.every)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(msg) {
		if err := a.send(s, msg[i:i+1], 0); err != nil {
			return err
		}
		if a.trickle == "keepalive" && i%4 == 3 {
			a.st.msgsSent.Add(1)
		}
		select {
		case err := <-rerr:
			rerr <- err
			return err
		case <-a.ctx.Done():
			return a.ctx.Err()
		case <-t.C:
		}
	}
}
