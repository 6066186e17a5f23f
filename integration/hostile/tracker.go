package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// trackerPorts is how many ports the tracker's fake peers use; each is
// checked to be closed on 127.1.0.1 first (a wildcard listener there
// would take connections to every 127.x address).
const trackerPorts = 64

// fakeTracker answers every announce with -peers compact peers in
// 127.1.0.0/16 on ports nobody listens on, a different window of them
// each time, and an interval of -interval seconds.
type fakeTracker struct {
	st       *stats
	peers    int
	interval int
	ports    []uint16

	mu   sync.Mutex // between concurrent announces
	buf  []byte     // the response, rebuilt per announce
	next uint64     // first address of the next window
}

func runTracker(name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	c.register(fs)
	listen := fs.Int("listen", 0, "`PORT` of -bind to serve HTTP on (0: any)")
	peers := fs.Int("peers", 150000, "compact peers in every answer")
	interval := fs.Int("interval", 1, "announce interval in seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	p, err := c.parse(false, false)
	if err != nil {
		return err
	}
	if *peers < 0 || *peers > 1<<20 || *interval < 0 || *listen < 0 || *listen > 65535 {
		return errors.New("-peers must be 0..1048576, -interval >= 0 and -listen a port")
	}
	ctx, cancel := attackContext(c.dur)
	defer cancel()
	ft := &fakeTracker{st: newStats(), peers: *peers, interval: *interval}
	if ft.ports, err = closedPorts(p.bind, trackerPorts); err != nil {
		return err
	}
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(p.bind, uint16(*listen))))
	if err != nil {
		return err
	}
	fmt.Printf("listening http://%s/announce\n", ln.Addr())
	srv := &http.Server{Handler: ft, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	<-ctx.Done()
	srv.Close()
	<-done
	s := ft.st.summary(name)
	s.Announces, s.PeersSent = ft.st.requestsRecv.Load(), ft.st.msgsSent.Load()
	s.RequestsRecv, s.MsgsSent = 0, 0
	printJSON(s)
	return nil
}

// closedPorts finds n ports on which 127.1.0.1 refuses connections.
func closedPorts(bind netip.Addr, n int) ([]uint16, error) {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(bind, 0)), Timeout: 200 * time.Millisecond}
	var ports []uint16
	for p := 40001; p < 65536 && len(ports) < n; p += 7 {
		c, err := d.Dial("tcp4", "127.1.0.1:"+strconv.Itoa(p))
		if err != nil {
			ports = append(ports, uint16(p))
			continue
		}
		c.Close()
	}
	if len(ports) < n {
		return nil, errors.New("tracker: too few closed ports on 127.1.0.1")
	}
	return ports, nil
}

func (ft *fakeTracker) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.st.requestsRecv.Add(1)
	b := ft.buf[:0]
	b = append(b, "d8:completei0e10:incompletei"...)
	b = strconv.AppendInt(b, int64(ft.peers), 10)
	b = append(b, "e8:intervali"...)
	b = strconv.AppendInt(b, int64(ft.interval), 10)
	b = append(b, "e12:min intervali"...)
	b = strconv.AppendInt(b, int64(ft.interval), 10)
	b = append(b, "e5:peers"...)
	b = strconv.AppendInt(b, int64(6*ft.peers), 10)
	b = append(b, ':')
	space := uint64(65536 * len(ft.ports))
	for i := range uint64(ft.peers) {
		j := (ft.next + i) % space
		port := ft.ports[j>>16]
		b = append(b, 127, 1, byte(j>>8), byte(j), byte(port>>8), byte(port))
	}
	b = append(b, 'e')
	ft.next = (ft.next + uint64(ft.peers)) % space
	ft.buf = b
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if n, err := w.Write(b); err == nil {
		ft.st.bytesSent.Add(int64(n))
		ft.st.msgsSent.Add(int64(ft.peers))
	}
}
