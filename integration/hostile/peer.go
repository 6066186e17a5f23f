package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/wire"
)

// handshakeWait bounds the wait for the target's handshake.
const handshakeWait = 10 * time.Second

// peerAttack is one run of a peer-protocol attack: workers dial the
// target (and a listener takes its dials) and run behave on every
// connection whose handshake completed.
type peerAttack struct {
	name   string
	mi     *metainfo.MetaInfo
	layout metainfo.Layout
	target netip.AddrPort
	bind   netip.Addr
	ctx    context.Context
	end    time.Time
	st     *stats

	fixedID    *[20]byte     // stealid: the peer id to claim; nil: a new random one each time
	bad        int64         // badhash: garbage blocks to send in all; 0: no limit
	data       *dataSource   // badhash/stealid: genuine blocks once bad ones are spent
	every      time.Duration // trickle: the pause between bytes
	trickle    string        // trickle: "piece" or "keepalive"
	noFast     bool          // no fast extension bit in our handshake
	interested bool          // reqflood: say interested first
	pause      time.Duration // before connecting again
	behave     func(a *peerAttack, s *session) error
}

// session is one connection after the handshake.
type session struct {
	conn   net.Conn // counting
	theirs wire.Handshake
}

func runPeer(name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	c.register(fs)
	conns := fs.Int("conns", 1, "connections to keep attacking with at once")
	pauseDefault := time.Second
	if name == "badhash" || name == "stealid" {
		pauseDefault = 0
	}
	pause := fs.Duration("pause", pauseDefault, "wait this long before connecting again after a connection ends or is refused")
	listen := fs.Int("listen", -1, "also accept the target's dials on this `PORT` of -bind (0: any; -1: no listener)")
	id := fs.String("id", "", "stealid: the peer id to claim, 40 hex digits")
	learn := fs.String("learn", "", "stealid: read the peer id to claim from the handshake of `HOST:PORT`")
	badDefault := 0
	if name == "stealid" {
		badDefault = 1
	}
	bad := fs.Int("bad", badDefault, "badhash/stealid: garbage blocks to send in all (0: every block)")
	data := fs.String("data", "", "badhash/stealid: `DIR` holding the torrent's content, for genuine blocks once -bad are sent")
	every := fs.Duration("every", 10*time.Second, "trickle: pause between bytes")
	trickleMsg := fs.String("msg", "piece", "trickle: the message trickled, piece (never completes) or keepalive")
	fast := fs.Bool("fast", true, "set the fast extension bit (BEP 6) in our handshake, so the target answers refused requests with rejects")
	interested := fs.Bool("interested", true, "reqflood: say interested before the requests (the target may then unchoke us)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	p, err := c.parse(true, *listen < 0)
	if err != nil {
		return err
	}
	if *conns < 1 || *conns > 1024 {
		return errors.New("-conns must be 1..1024")
	}
	if *every <= 0 || (*trickleMsg != "piece" && *trickleMsg != "keepalive") {
		return errors.New("-every must be positive and -msg piece or keepalive")
	}
	a := &peerAttack{
		name: name, mi: p.mi, layout: p.mi.Info.Layout(), target: p.target, bind: p.bind,
		st: newStats(), bad: int64(*bad), every: *every, trickle: *trickleMsg, noFast: !*fast, interested: *interested, pause: *pause,
		behave: behaviours[name],
	}
	if *data != "" {
		if a.data, err = openData(p.mi, *data); err != nil {
			return err
		}
		defer a.data.close()
	}
	if name == "stealid" {
		if a.fixedID, err = stolenID(*id, *learn, p); err != nil {
			return err
		}
	}
	ctx, cancel := attackContext(c.dur)
	defer cancel()
	a.ctx = ctx
	a.end = time.Now().Add(c.dur)

	var wg sync.WaitGroup
	if *listen >= 0 {
		ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(p.bind, uint16(*listen))))
		if err != nil {
			return err
		}
		fmt.Printf("listening %s\n", ln.Addr())
		stop := context.AfterFunc(ctx, func() { ln.Close() })
		defer stop()
		wg.Go(func() { a.acceptLoop(ln) })
	}
	if p.target.IsValid() {
		for range *conns {
			wg.Go(a.dialLoop)
		}
	}
	wg.Wait()
	printJSON(a.st.summary(name))
	return nil
}

// stolenID is the peer id stealid claims: given, or learned from a peer.
func stolenID(id, learn string, p parsed) (*[20]byte, error) {
	var out [20]byte
	switch {
	case id != "":
		b, err := hex.DecodeString(id)
		if err != nil || len(b) != 20 {
			return nil, fmt.Errorf("-id %q: want 40 hex digits", id)
		}
		copy(out[:], b)
	case learn != "":
		ap, err := loopbackPort(learn)
		if err != nil {
			return nil, fmt.Errorf("-learn: %w", err)
		}
		hs, err := peerIDOf(ap, p.bind, p.mi.InfoHash)
		if err != nil {
			return nil, fmt.Errorf("-learn %s: %w", ap, err)
		}
		out = hs.PeerID
	default:
		return nil, errors.New("stealid needs -id or -learn")
	}
	return &out, nil
}

// ourHandshake is the handshake we send: the fast extension on unless
// -fast=false (so the target may send rejects and we may send have-all),
// and a fresh random peer id unless one is fixed.
func (a *peerAttack) ourHandshake() []byte {
	hs := wire.Handshake{InfoHash: a.mi.InfoHash}
	if !a.noFast {
		hs.SetFast()
	}
	if a.fixedID != nil {
		hs.PeerID = *a.fixedID
	} else {
		copy(hs.PeerID[:], "-HO0001-")
		_, _ = rand.Read(hs.PeerID[8:])
	}
	b, _ := hs.AppendBinary(nil)
	return b
}

// dialLoop connects to the target again and again until the attack ends.
func (a *peerAttack) dialLoop() {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(a.bind, 0)), Timeout: 5 * time.Second}
	for a.ctx.Err() == nil {
		a.st.dials.Add(1)
		conn, err := d.DialContext(a.ctx, "tcp4", a.target.String())
		if err != nil {
			if a.ctx.Err() == nil {
				a.st.dialErrors.Add(1)
				sleep(a.ctx, 20*time.Millisecond) // not listening yet, or out of ports
			}
			continue
		}
		a.run(conn, true)
		if a.pause > 0 {
			sleep(a.ctx, a.pause)
		}
	}
}

// acceptLoop takes the target's dials until the listener closes.
func (a *peerAttack) acceptLoop(ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if a.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			sleep(a.ctx, 20*time.Millisecond)
			continue
		}
		a.st.inbound.Add(1)
		wg.Go(func() { a.run(conn, false) })
	}
}

// run exchanges handshakes on conn and then runs the attack on it.
func (a *peerAttack) run(raw net.Conn, outgoing bool) {
	stop := context.AfterFunc(a.ctx, func() { raw.Close() })
	defer stop()
	defer raw.Close()
	conn := countConn{raw, a.st}
	_ = conn.SetDeadline(earlier(time.Now().Add(handshakeWait), a.end))
	var hs wire.Handshake
	var err error
	if outgoing {
		if _, err = conn.Write(a.ourHandshake()); err == nil {
			hs, err = wire.ReadHandshake(conn)
		}
	} else {
		// The target tries MSE first: anything but a plaintext handshake
		// is closed, and it tries again in plaintext.
		if hs, err = wire.ReadHandshake(conn); err == nil {
			_, err = conn.Write(a.ourHandshake())
		}
	}
	if err == nil && hs.InfoHash != a.mi.InfoHash {
		err = errors.New("handshake for another torrent")
	}
	if err != nil {
		switch {
		case a.ctx.Err() != nil || !outgoing:
		case timedOut(err):
			a.st.hsTimeouts.Add(1)
		default: // closed (or reset) before the handshake: refused
			a.st.refused.Add(1)
			a.st.markFirst(&a.st.firstRefused)
		}
		return
	}
	a.st.handshakes.Add(1)
	_ = conn.SetDeadline(a.end)
	began := time.Now()
	err = a.behave(a, &session{conn: conn, theirs: hs})
	a.st.noteSession(time.Since(began))
	if err != nil && a.ctx.Err() == nil && closedByPeer(err) {
		a.st.closedByPeer.Add(1)
		a.st.markFirst(&a.st.firstClosed)
	}
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// peerIDOf handshakes with a peer and returns its handshake.
func peerIDOf(ap netip.AddrPort, bind netip.Addr, ih [20]byte) (wire.Handshake, error) {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(bind, 0)), Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp4", ap.String())
	if err != nil {
		return wire.Handshake{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(handshakeWait))
	ours := wire.Handshake{InfoHash: ih}
	copy(ours.PeerID[:], "-HO0001-learning-id")
	b, _ := ours.AppendBinary(nil)
	if _, err := conn.Write(b); err != nil {
		return wire.Handshake{}, err
	}
	return wire.ReadHandshake(conn)
}

// runPeerID prints the peer id of -target's handshake.
func runPeerID(name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := c.parse(true, true)
	if err != nil {
		return err
	}
	hs, err := peerIDOf(p.target, p.bind, p.mi.InfoHash)
	if err != nil {
		return err
	}
	printJSON(map[string]string{"peer_id": hex.EncodeToString(hs.PeerID[:])})
	return nil
}
