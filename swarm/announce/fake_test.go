package announce

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/tracker"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// behaviour answers one announce to a fake tracker.
type behaviour func(ctx context.Context, req tracker.Request) (*tracker.Response, error)

type call struct {
	url   string
	event tracker.Event
	left  int64
	at    time.Time
}

// fakeClient is an in-memory Announcer whose trackers behave as the test
// sets, by URL, at any time.
type fakeClient struct {
	mu     sync.Mutex // between Tiers' goroutines and the test
	behave map[string]behaviour
	calls  []call
}

func newFake() *fakeClient { return &fakeClient{behave: make(map[string]behaviour)} }

func (f *fakeClient) set(url string, b behaviour) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behave[url] = b
}

func (f *fakeClient) Announce(ctx context.Context, req tracker.Request) (*tracker.Response, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{req.URL, req.Event, req.Left, time.Now()})
	b := f.behave[req.URL]
	f.mu.Unlock()
	if b == nil {
		return nil, errors.New("no such tracker")
	}
	return b(ctx, req)
}

// callsTo returns the calls to url in order.
func (f *fakeClient) callsTo(url string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.url == url {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeClient) events(url string) []tracker.Event {
	var out []tracker.Event
	for _, c := range f.callsTo(url) {
		out = append(out, c.event)
	}
	return out
}

func addrs(s ...string) []netip.AddrPort {
	ps := make([]netip.AddrPort, len(s))
	for i, p := range s {
		ps[i] = netip.MustParseAddrPort(p)
	}
	return ps
}

// ok answers with interval and peers.
func ok(interval time.Duration, peers ...string) behaviour {
	ps := addrs(peers...)
	return func(context.Context, tracker.Request) (*tracker.Response, error) {
		return &tracker.Response{Interval: interval, Peers: slices.Clone(ps)}, nil
	}
}

func fail(context.Context, tracker.Request) (*tracker.Response, error) {
	return nil, errors.New("tracker is down")
}

// blackHole never answers; it returns when ctx ends.
func blackHole(ctx context.Context, _ tracker.Request) (*tracker.Response, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// peerSink collects what Config.Peers receives.
type peerSink struct {
	c chan []netip.AddrPort
}

func newSink() *peerSink { return &peerSink{c: make(chan []netip.AddrPort, 1000)} }

func (s *peerSink) add(p []netip.AddrPort) { s.c <- p }

// wait returns the first batch containing want, failing after d.
func (s *peerSink) wait(t *testing.T, want string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ps := <-s.c:
			if slices.Contains(ps, netip.MustParseAddrPort(want)) {
				return time.Since(start)
			}
		case <-timer.C:
			t.Fatalf("no peer %s within %v", want, d)
		}
	}
}

// levelCounter counts log records by level and message.
type levelCounter struct {
	mu     sync.Mutex // between Tiers' goroutines and the test
	counts map[string]int
}

func (l *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *levelCounter) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *levelCounter) WithGroup(string) slog.Handler            { return l }
func (l *levelCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = make(map[string]int)
	}
	l.counts[r.Level.String()+" "+r.Message]++
	return nil
}

func (l *levelCounter) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[key]
}

// start runs ts until the test ends or the returned stop is called; stop
// waits for Run to return and reports how long that took.
func start(t *testing.T, ts *Tiers) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ts.Run(ctx)
	}()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			begin := time.Now()
			cancel()
			<-done
			took = time.Since(begin)
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return stop
}

// order returns tier's URLs in the order New shuffled them into.
func order(ts *Tiers, tier int) []string {
	var out []string
	for _, s := range ts.Status() {
		if s.Tier == tier {
			out = append(out, s.URL)
		}
	}
	return out
}
