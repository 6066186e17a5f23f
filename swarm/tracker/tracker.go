package tracker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Event is the announce event parameter.
type Event int

// Announce events. EventNone is a regular, periodic announce.
const (
	EventNone Event = iota
	EventStarted
	EventCompleted
	EventStopped
)

// String returns the event's wire name; EventNone (and any unknown value)
// is the empty string.
func (e Event) String() string {
	switch e {
	case EventStarted:
		return "started"
	case EventCompleted:
		return "completed"
	case EventStopped:
		return "stopped"
	}
	return ""
}

// Request is one announce.
type Request struct {
	URL        string
	InfoHash   [20]byte
	PeerID     [20]byte
	Port       uint16
	Uploaded   int64
	Downloaded int64
	Left       int64
	Event      Event
	NumWant    int    // <0: omit the parameter; otherwise sent
	Key        uint32 // sent as 8 hex digits when non-zero
	TrackerID  string // sent as trackerid when non-empty
}

// Response is a tracker's successful answer.
//
// Interval is 30 minutes when the tracker sent none or a non-positive one,
// and at most 24 hours. MinInterval is zero when absent and also at most
// 24 hours. Peers merges the compact and dictionary "peers" forms and
// "peers6"; entries with an unusable address or port 0 are skipped and
// duplicates removed, keeping the first occurrence.
type Response struct {
	Interval    time.Duration
	MinInterval time.Duration
	Peers       []netip.AddrPort
	Complete    int
	Incomplete  int
	Warning     string
	TrackerID   string
}

// FailureError is returned (wrapped) when the tracker reported a failure:
// an HTTP "failure reason" or a UDP error datagram (BEP 15 action 3).
type FailureError struct{ Reason string }

func (e *FailureError) Error() string {
	return "tracker failure: " + e.Reason
}

// ErrUnsupportedScheme is returned (wrapped) for announce URLs whose scheme
// this package cannot speak, such as wss://.
var ErrUnsupportedScheme = errors.New("unsupported tracker scheme")

const (
	defaultTimeout = 15 * time.Second
	defaultMaxBody = 1 << 20
)

// Client announces to trackers. The zero value is ready to use and safe
// for concurrent use; a Client must not be copied after first use.
//
// HTTP redirects are followed, at most 5 (unless HTTP has its own
// CheckRedirect).
//
// Over UDP a request that gets no answer within UDPTimeout·2^n is sent
// again, n = 0, 1, ... UDPRetries (BEP 15: 15 s·2^n, n up to 8). The count
// n is shared by the connect and the announce of one call, so a dead
// tracker costs at most UDPTimeout·(2^(UDPRetries+1)-1), or less if ctx
// ends first. Connection ids are cached per host:port for UDPConnTTL.
type Client struct {
	HTTP    *http.Client // nil = a client with a 15 s timeout
	MaxBody int64        // 0 = 1 MiB; larger bodies are an error

	UDPTimeout time.Duration // 0 = 15 s: the first retransmission timeout
	UDPRetries int           // 0 = 8: the largest n; capped at 30
	UDPConnTTL time.Duration // 0 = 1 min: how long a connection id is reused

	// mu guards conns between concurrent Announce calls.
	mu    sync.Mutex
	conns map[string]udpConnID // URL host:port → connection id
}

// Announce sends req to the tracker at req.URL and returns its answer.
// A tracker-reported failure is a *FailureError. Every error names the
// tracker URL.
func (c *Client) Announce(ctx context.Context, req Request) (*Response, error) {
	resp, err := c.announce(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("tracker %s: %w", req.URL, err)
	}
	return resp, nil
}

func (c *Client) announce(ctx context.Context, req Request) (*Response, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("parse announce url: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return c.announceHTTP(ctx, u, req)
	case "udp":
		return c.announceUDP(ctx, u, req)
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupportedScheme, u.Scheme)
	}
}
