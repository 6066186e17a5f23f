package trackertest

import (
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Server is an in-memory tracker. It implements http.Handler.
type Server struct {
	interval time.Duration    // whole seconds, at least one
	now      func() time.Time // replaced by tests

	// mu guards swarms, announces and lastSweep against concurrent
	// ServeHTTP calls (one goroutine per request) and the test accessors.
	mu        sync.Mutex
	swarms    map[[20]byte]map[[20]byte]*peer // info-hash → peer id → peer
	announces int
	lastSweep time.Time
}

type peer struct {
	id       [20]byte
	addr     netip.AddrPort
	complete bool
	seen     time.Time
}

// expiryFactor is how many intervals a peer may miss before it is dropped.
const expiryFactor = 3

// New returns a Server telling clients to re-announce every interval,
// rounded up to whole seconds; a non-positive interval means 30 minutes.
// Peers that have not announced for three intervals are dropped.
func New(interval time.Duration) *Server {
	if interval <= 0 {
		interval = 30 * time.Minute
	}
	interval = (interval + time.Second - 1).Truncate(time.Second)
	return &Server{
		interval: interval,
		now:      time.Now,
		swarms:   make(map[[20]byte]map[[20]byte]*peer),
	}
}

// ServeHTTP answers announces on any path ending in /announce.
// Malformed announces get a bencoded "failure reason" with status 200, as
// trackers conventionally do.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/announce") {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	a, err := parseAnnounce(r)
	if err != nil {
		slog.Debug("trackertest: rejected announce", "remote", r.RemoteAddr, "err", err)
		w.Write(failureBody(err.Error()))
		return
	}
	w.Write(s.announce(a))
}

// announce applies a to its swarm and returns the encoded response.
func (s *Server) announce(a announce) []byte {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.announces++
	if now.Sub(s.lastSweep) >= s.interval {
		for ih := range s.swarms {
			s.expire(ih, now)
		}
		s.lastSweep = now
	}

	sw := s.swarms[a.infoHash]
	if sw == nil {
		sw = make(map[[20]byte]*peer)
		s.swarms[a.infoHash] = sw
	}
	if a.event == "stopped" {
		delete(sw, a.peerID)
	} else {
		sw[a.peerID] = &peer{id: a.peerID, addr: a.addr, complete: a.left == 0, seen: now}
	}
	s.expire(a.infoHash, now)

	var complete, incomplete int64
	others := make([]*peer, 0, min(len(sw), a.numWant))
	for id, p := range sw { // map order is random enough to spread peers
		if p.complete {
			complete++
		} else {
			incomplete++
		}
		if id != a.peerID && len(others) < a.numWant && a.event != "stopped" {
			others = append(others, p)
		}
	}
	return encodeResponse(s.interval, complete, incomplete, others, a.compact)
}

// expire drops infoHash's peers not seen for expiryFactor intervals, and
// the swarm itself once empty. s.mu must be held.
func (s *Server) expire(infoHash [20]byte, now time.Time) {
	sw := s.swarms[infoHash]
	for id, p := range sw {
		if now.Sub(p.seen) >= expiryFactor*s.interval {
			delete(sw, id)
		}
	}
	if len(sw) == 0 {
		delete(s.swarms, infoHash)
	}
}

// Peers returns infoHash's current swarm, sorted, for tests.
func (s *Server) Peers(infoHash [20]byte) []netip.AddrPort {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []netip.AddrPort
	for _, p := range s.swarms[infoHash] {
		if now.Sub(p.seen) < expiryFactor*s.interval {
			out = append(out, p.addr)
		}
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return out
}

// Announces returns how many valid announces the server has answered.
func (s *Server) Announces() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.announces
}

func encodeResponse(interval time.Duration, complete, incomplete int64, peers []*peer, compact bool) []byte {
	b := []byte{'d'}
	b = appendString(b, "complete")
	b = appendInt(b, complete)
	b = appendString(b, "incomplete")
	b = appendInt(b, incomplete)
	b = appendString(b, "interval")
	b = appendInt(b, int64(interval/time.Second))
	b = appendString(b, "peers")
	if !compact {
		b = append(b, 'l')
		for _, p := range peers {
			b = append(b, 'd')
			b = appendString(b, "ip")
			b = appendString(b, p.addr.Addr().String())
			b = appendString(b, "peer id")
			b = appendString(b, string(p.id[:]))
			b = appendString(b, "port")
			b = appendInt(b, int64(p.addr.Port()))
			b = append(b, 'e')
		}
		return append(b, 'e', 'e')
	}
	var v4, v6 []byte
	for _, p := range peers {
		a, port := p.addr.Addr(), p.addr.Port()
		if a.Is4() {
			v4 = append(v4, a.AsSlice()...)
			v4 = append(v4, byte(port>>8), byte(port))
		} else {
			v6 = append(v6, a.AsSlice()...)
			v6 = append(v6, byte(port>>8), byte(port))
		}
	}
	b = appendString(b, string(v4))
	if len(v6) > 0 {
		b = appendString(b, "peers6")
		b = appendString(b, string(v6))
	}
	return append(b, 'e')
}
