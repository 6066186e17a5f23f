package utp

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// inQueue is the number of uTP datagrams read from the socket but not yet
// processed. When it is full the reader waits and the kernel buffers.
const inQueue = 1024

// Mux shares one UDP socket between uTP and another protocol (our DHT). It
// reads every packet from the socket; uTP packets go to the Socket, all
// others to Other().
//
// A Mux runs three goroutines, all ended and waited for by Close: a reader,
// a dispatcher that processes uTP packets one at a time (and sends the acks
// it deferred whenever it has drained its queue), and a timer for
// retransmissions, keep-alives and timeouts.
type Mux struct {
	pc   net.PacketConn
	udp  udpConn      // pc's allocation-free methods, if it has them
	uc   *net.UDPConn // pc, if segmentation offload is possible
	gso  atomic.Bool  // send batches with segmentation offload
	gro  bool         // reads may return coalesced datagrams
	cfg  Config
	log  *slog.Logger
	sock *Socket
	oth  *otherConn

	in      chan inPacket
	closing chan struct{}
	wg      sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// udpConn is the allocation-free subset of *net.UDPConn.
type udpConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

type inPacket struct {
	buf  *[]byte // from the socket's pool
	n    int
	from netip.AddrPort
}

// NewMux starts reading pc. The Mux owns pc from now on: Mux.Close closes
// it, and nothing else may read from it.
func NewMux(pc net.PacketConn, cfg Config) *Mux {
	cfg = cfg.withDefaults()
	m := &Mux{
		pc:      pc,
		cfg:     cfg,
		log:     cfg.Logger,
		in:      make(chan inPacket, inQueue),
		closing: make(chan struct{}),
	}
	m.udp, _ = pc.(udpConn)
	if !cfg.NoOffload {
		gso, gro := enableOffload(pc)
		if gso || gro {
			m.uc = pc.(*net.UDPConn)
		}
		m.gso.Store(gso)
		m.gro = gro
	}
	if cfg.SocketBuffer > 0 {
		if b, ok := pc.(interface{ SetReadBuffer(int) error }); ok {
			_ = b.SetReadBuffer(cfg.SocketBuffer)
		}
		if b, ok := pc.(interface{ SetWriteBuffer(int) error }); ok {
			_ = b.SetWriteBuffer(cfg.SocketBuffer)
		}
	}
	m.sock = newSocket(m)
	m.oth = newOtherConn(m, cfg.OtherQueue)
	m.wg.Add(3)
	go m.readLoop()
	go m.dispatchLoop()
	go m.sock.timerLoop()
	return m
}

// Socket returns the uTP side of the Mux.
func (m *Mux) Socket() *Socket { return m.sock }

// Other returns a PacketConn that yields the datagrams that are not uTP.
// Its WriteTo writes to the shared socket; its Close closes only the view.
func (m *Mux) Other() net.PacketConn { return m.oth }

// Close closes the socket, the uTP Socket and every uTP connection, and
// waits for the Mux's goroutines. Connections are dropped without a FIN.
func (m *Mux) Close() error {
	m.closeOnce.Do(func() {
		close(m.closing)
		if err := m.pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			m.closeErr = err
		}
		m.wg.Wait()
		m.sock.shutdown()
		m.oth.Close()
	})
	return m.closeErr
}

func (m *Mux) readLoop() {
	defer m.wg.Done()
	buf := make([]byte, 65536)
	oob := make([]byte, 64)
	failures := 0
	for {
		var (
			n, seg int
			from   netip.AddrPort
			addr   net.Addr
			err    error
		)
		switch {
		case m.gro:
			var oobn int
			n, oobn, _, from, err = m.uc.ReadMsgUDPAddrPort(buf, oob)
			if err == nil {
				seg = groSegment(oob[:oobn])
			}
		case m.udp != nil:
			n, from, err = m.udp.ReadFromUDPAddrPort(buf)
		default:
			n, addr, err = m.pc.ReadFrom(buf)
			if err == nil {
				from = addrPort(addr)
			}
		}
		if err != nil {
			select {
			case <-m.closing:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				m.log.Debug("utp: packet conn closed under the mux", "err", err)
				return
			}
			// ICMP errors and the like: keep reading, but do not spin.
			failures++
			if failures > 10 {
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		failures = 0
		if seg <= 0 || seg >= n {
			seg = n
		}
		for b := buf[:n]; len(b) > 0; b = b[min(seg, len(b)):] {
			if !m.deliver(b[:min(seg, len(b))], from, addr) {
				return
			}
		}
	}
}

// deliver routes one datagram; false if the Mux is closing.
func (m *Mux) deliver(b []byte, from netip.AddrPort, addr net.Addr) bool {
	if !IsUTP(b) {
		if addr == nil {
			addr = net.UDPAddrFromAddrPort(from)
		}
		m.oth.deliver(b, addr)
		return true
	}
	if !from.IsValid() || len(b) > m.sock.bufLen {
		return true // no uTP implementation sends datagrams this large
	}
	p := inPacket{buf: m.sock.getBuf(len(b)), n: len(b), from: from}
	copy(*p.buf, b)
	select {
	case m.in <- p:
		return true
	case <-m.closing:
		return false
	}
}

func (m *Mux) dispatchLoop() {
	defer m.wg.Done()
	batch := 0
	for {
		select {
		case p := <-m.in:
			if !m.sock.handlePacket(p.buf, p.n, p.from, time.Now()) {
				m.sock.putBuf(p.buf)
			}
			batch++
			if len(m.in) == 0 || batch >= 64 {
				m.sock.flushAcks(time.Now())
				batch = 0
			}
		case <-m.closing:
			return
		}
	}
}

// writeTo sends one datagram; errors are the caller's to ignore (a lost
// datagram is what uTP recovers from).
func (m *Mux) writeTo(b []byte, to netip.AddrPort) error {
	var err error
	if m.udp != nil {
		_, err = m.udp.WriteToUDPAddrPort(b, to)
	} else {
		_, err = m.pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
	}
	return err
}

// addrPort converts a datagram's source address; the zero AddrPort if it
// is not a UDP address.
func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.AddrPort{}
		}
		return ap
	}
}

// canon is the form of an address used as a key: IPv4-mapped IPv6
// addresses become IPv4, so a reply from ::ffff:1.2.3.4 matches a dial to
// 1.2.3.4.
func canon(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
