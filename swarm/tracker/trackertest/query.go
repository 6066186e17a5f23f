package trackertest

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
)

const (
	defaultNumWant = 50
	maxNumWant     = 200
)

// announce is one validated announce request.
type announce struct {
	infoHash [20]byte
	peerID   [20]byte
	addr     netip.AddrPort
	left     int64 // -1 when the client did not say
	event    string
	numWant  int
	compact  bool
}

// parseAnnounce validates r's query strictly; its errors are sent to the
// client as the failure reason.
func parseAnnounce(r *http.Request) (announce, error) {
	a := announce{left: -1, numWant: defaultNumWant}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return a, fmt.Errorf("malformed query: %w", err)
	}
	if a.infoHash, err = param20(q, "info_hash"); err != nil {
		return a, err
	}
	if a.peerID, err = param20(q, "peer_id"); err != nil {
		return a, err
	}
	port, err := strconv.ParseUint(q.Get("port"), 10, 16)
	if err != nil || port == 0 {
		return a, fmt.Errorf("invalid port %q", q.Get("port"))
	}
	for _, name := range []string{"uploaded", "downloaded", "left"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return a, fmt.Errorf("invalid %s %q", name, v)
		}
		if name == "left" {
			a.left = n
		}
	}
	switch a.event = q.Get("event"); a.event {
	case "", "empty", "started", "completed", "stopped":
	default:
		return a, fmt.Errorf("invalid event %q", a.event)
	}
	if v := q.Get("numwant"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return a, fmt.Errorf("invalid numwant %q", v)
		}
		if n >= 0 {
			a.numWant = min(n, maxNumWant)
		}
	}
	a.compact = q.Get("compact") == "1"

	ip, err := netip.ParseAddr(q.Get("ip"))
	if err != nil || ip.Zone() != "" {
		remote, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return a, errors.New("cannot determine peer address")
		}
		ip = remote.Addr()
	}
	a.addr = netip.AddrPortFrom(ip.Unmap().WithZone(""), uint16(port))
	return a, nil
}

// param20 returns the single, exactly 20-byte value of q[name].
func param20(q url.Values, name string) ([20]byte, error) {
	var out [20]byte
	vs := q[name]
	if len(vs) != 1 {
		return out, fmt.Errorf("need exactly one %s, got %d", name, len(vs))
	}
	if len(vs[0]) != 20 {
		return out, fmt.Errorf("%s is %d bytes, want 20", name, len(vs[0]))
	}
	copy(out[:], vs[0])
	return out, nil
}
