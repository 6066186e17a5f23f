package dht

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// read feeds datagrams to the loop until the Conn is closed.
func (n *Node) read() {
	defer n.wg.Done()
	for {
		var buf []byte
		select {
		case buf = <-n.freeC:
		default:
			buf = make([]byte, maxPacket+1) // one byte more: a larger datagram fills it
		}
		nr, from, err := n.readFrom(buf)
		if err != nil {
			select {
			case <-n.quit:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				n.log.Warn("dht: socket closed under the node", "err", err)
				return
			}
			n.log.Debug("dht: read", "err", err)
			select {
			case <-n.quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if from = unmap(from); nr > maxPacket {
			n.putBuf(buf)
			continue
		}
		m, perr, ok := n.admit(buf[:nr], from, time.Now())
		if !ok {
			n.putBuf(buf)
			continue
		}
		select {
		case n.packetC <- packet{buf[:nr], from, m, perr}:
		default:
			n.putBuf(buf) // the loop is behind: drop
		}
	}
}

// admissible reports whether a datagram from addr is looked at: a source
// of a family we use, with a port, and no zone (a link-local IPv6 node
// could not be named to others).
func (n *Node) admissible(from netip.AddrPort) bool {
	return from.Port() != 0 && n.fams.hasAddr(from.Addr()) && from.Addr().Zone() == ""
}

func (n *Node) readFrom(b []byte) (int, netip.AddrPort, error) {
	if n.udp != nil {
		return n.udp.ReadFromUDPAddrPort(b)
	}
	nr, a, err := n.conn.ReadFrom(b)
	if ua, ok := a.(*net.UDPAddr); ok {
		return nr, ua.AddrPort(), err
	}
	return nr, netip.AddrPort{}, err
}

func (n *Node) write(b []byte, to netip.AddrPort) error {
	if n.udp != nil {
		_, err := n.udp.WriteToUDPAddrPort(b, to)
		return err
	}
	_, err := n.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return err
}

func (n *Node) putBuf(b []byte) {
	select {
	case n.freeC <- b[:cap(b)]:
	default:
	}
}

// loop owns the node's state: it handles datagrams, commands, timeouts
// and maintenance until Close.
func (n *Node) loop() {
	defer n.wg.Done()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	last := time.Now()
	n.maintain(last)
	for {
		select {
		case p := <-n.packetC:
			n.handle(&p.m, p.err, p.from, time.Now())
			n.putBuf(p.b)
		case c := <-n.cmdC:
			c.f()
			close(c.done)
		case a := <-n.addC:
			n.ping(a, time.Now())
		case now := <-tick.C:
			n.expire(now)
			if now.Sub(last) >= time.Second {
				last = now
				n.maintain(now)
			}
		case <-n.quit:
			return
		}
		n4, n6 := n.tables[fam4].size(), n.tables[fam6].size()
		n.nodes.Store(int64(n4 + n6))
		n.nodes6.Store(int64(n6))
		n.torrents.Store(int64(len(n.store.torrents)))
		n.peers.Store(int64(n.store.n))
	}
}
