// Package announce decides when and where a torrent announces: BEP 12
// tiers, re-announce intervals, back-off and events. Package
// swarm/tracker speaks the protocol.
//
// Every tier works at once, on its own: at start each tier announces to
// its first URL, and moves on to its next URL as soon as one fails or
// has not answered within HedgeDelay, so a dead tracker never holds back
// the first peers. The first URL of a tier to answer is moved to the
// front of the tier (BEP 12) and becomes the tier's working tracker,
// announced to on its interval. When it fails, the tier tries its other
// URLs in order, skipping those backing off after failures.
//
// Events: started on every announce to a tracker until one succeeds, then
// none; completed once per tracker after Completed; stopped, when Run
// ends, to every tracker that ever answered.
package announce

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/btfs/btfs/swarm/tracker"
)

// Announcer sends one announce. *tracker.Client satisfies it.
type Announcer interface {
	Announce(ctx context.Context, req tracker.Request) (*tracker.Response, error)
}

var _ Announcer = (*tracker.Client)(nil)

// Stats are the transfer totals sent with each announce.
type Stats struct{ Uploaded, Downloaded, Left int64 }

// Config configures Tiers. Zero durations take the defaults shown.
type Config struct {
	Tiers            [][]string // BEP 12 tiers; each is shuffled once by New
	InfoHash, PeerID [20]byte
	Port             uint16
	Client           Announcer // required

	// Stats is called for every request; it may be called from several
	// goroutines at once. Nil sends zeros.
	Stats func() Stats
	// Peers receives the peers of every successful announce that has
	// any; calls are never concurrent. Nil drops them.
	Peers  func([]netip.AddrPort)
	Logger *slog.Logger // nil = discard

	MinInterval    time.Duration // 30 s: floor for re-announces
	MaxInterval    time.Duration // 0 = as the tracker says
	FirstTimeout   time.Duration // 5 s: per attempt, until a tracker has answered once
	Timeout        time.Duration // 60 s: per attempt, once it has
	HedgeDelay     time.Duration // 1 s: wait before also trying a tier's next URL
	BackoffBase    time.Duration // 15 s: retry delay after one failure, doubling
	BackoffMax     time.Duration // 30 min: cap of the retry delay
	StoppedTimeout time.Duration // 2 s: bound on all the stopped announces
	NumWant        int           // 0 = 50; negative = let the tracker choose

	Rand *rand.Rand // used by New only; nil = seeded from the time
}

// TrackerStatus is a snapshot of one tracker for logs and status output.
type TrackerStatus struct {
	URL          string
	Tier         int  // index into Config.Tiers
	Active       bool // the tier's working tracker
	LastAnnounce time.Time
	LastErr      string // of the last attempt; empty after a success
	Peers        int    // in the last successful answer
	Interval     time.Duration
	NextAnnounce time.Time // zero when not scheduled
}

// Tiers announces one torrent to its trackers. Create it with New and
// call Run once.
type Tiers struct {
	cfg        Config
	log        *slog.Logger
	key        uint32
	completedC chan struct{} // closed by Completed
	complete   sync.Once

	// mu guards the order of tiers and every trackerState field, between
	// the tier goroutines, the attempt goroutines and Status/Completed.
	mu        sync.Mutex
	tiers     [][]*trackerState
	completed bool

	peersMu  sync.Mutex     // serializes cfg.Peers calls from attempts
	attempts sync.WaitGroup // attempt goroutines started by sweeps
}

// trackerState is one URL's announce state; Tiers.mu guards it.
type trackerState struct {
	url          string
	tier         int
	succeeded    bool // it answered once: it knows us
	sentComplete bool // it knows we are complete
	active       bool
	inFlight     bool
	fails        int // consecutive
	retryAt      time.Time
	next         time.Time // next announce, while active
	trackerID    string
	lastAnnounce time.Time
	lastErr      string
	peers        int
	interval     time.Duration
	warning      string
	logged       result // last result logged at info or warn
}

type result int

const (
	resultNone result = iota
	resultOK
	resultFailed
)

// New returns Tiers for cfg. It panics if cfg.Client is nil.
func New(cfg Config) *Tiers {
	if cfg.Client == nil {
		panic("announce: Config.Client is nil")
	}
	setDefaults(&cfg)
	t := &Tiers{cfg: cfg, log: cfg.Logger, completedC: make(chan struct{})}
	for _, urls := range cfg.Tiers {
		var tier []*trackerState
		for _, u := range urls {
			if u != "" {
				tier = append(tier, &trackerState{url: u, tier: len(t.tiers)})
			}
		}
		if len(tier) == 0 {
			continue
		}
		cfg.Rand.Shuffle(len(tier), func(i, j int) { tier[i], tier[j] = tier[j], tier[i] })
		t.tiers = append(t.tiers, tier)
	}
	t.key = cfg.Rand.Uint32()
	return t
}

func setDefaults(c *Config) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinInterval, 30*time.Second)
	def(&c.FirstTimeout, 5*time.Second)
	def(&c.Timeout, time.Minute)
	def(&c.HedgeDelay, time.Second)
	def(&c.BackoffBase, 15*time.Second)
	def(&c.BackoffMax, 30*time.Minute)
	def(&c.StoppedTimeout, 2*time.Second)
	if c.NumWant == 0 {
		c.NumWant = 50
	}
	if c.Stats == nil {
		c.Stats = func() Stats { return Stats{} }
	}
	if c.Peers == nil {
		c.Peers = func([]netip.AddrPort) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Rand == nil {
		now := uint64(time.Now().UnixNano())
		c.Rand = rand.New(rand.NewPCG(now, now>>32|now<<32))
	}
}

// Run announces until ctx is done, then sends stopped to every tracker
// that ever answered, within StoppedTimeout, and returns.
//
// Announces in flight when ctx ends get half of StoppedTimeout to finish
// rather than being abandoned, so that a tracker does not process one
// after our stopped.
func (t *Tiers) Run(ctx context.Context) {
	actx, cancelAttempts := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAttempts()
	var tiers sync.WaitGroup
	for i := range t.tiers {
		tiers.Go(func() { t.runTier(ctx, actx, i) })
	}
	<-ctx.Done()
	deadline := time.Now().Add(t.cfg.StoppedTimeout)
	grace := time.AfterFunc(t.cfg.StoppedTimeout/2, cancelAttempts)
	tiers.Wait()
	t.attempts.Wait()
	grace.Stop()
	t.stopAll(ctx, deadline)
}

// Completed records that the download finished: the next announce to each
// tracker that already knows us carries event=completed, once. Working
// trackers are announced to at once.
func (t *Tiers) Completed() {
	t.complete.Do(func() {
		t.mu.Lock()
		t.completed = true
		t.mu.Unlock()
		close(t.completedC)
	})
}

// Status returns every tracker's state, by tier, in each tier's current
// order.
func (t *Tiers) Status() []TrackerStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []TrackerStatus
	for _, tier := range t.tiers {
		for _, tr := range tier {
			s := TrackerStatus{
				URL: tr.url, Tier: tr.tier, Active: tr.active, LastAnnounce: tr.lastAnnounce,
				LastErr: tr.lastErr, Peers: tr.peers, Interval: tr.interval,
			}
			switch {
			case tr.active:
				s.NextAnnounce = tr.next
			case tr.fails > 0:
				s.NextAnnounce = tr.retryAt
			}
			out = append(out, s)
		}
	}
	return out
}

// stopAll sends stopped to every tracker that answered, concurrently,
// until deadline.
func (t *Tiers) stopAll(ctx context.Context, deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	t.mu.Lock()
	var todo [][2]string // URL, tracker id
	for _, tier := range t.tiers {
		for _, tr := range tier {
			if tr.succeeded {
				todo = append(todo, [2]string{tr.url, tr.trackerID})
			}
		}
	}
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, tr := range todo {
		wg.Go(func() {
			req := t.request(tr[0], tr[1], tracker.EventStopped)
			if _, err := t.cfg.Client.Announce(ctx, req); err != nil {
				t.log.Debug("stopped announce failed", "tracker", tr[0], "err", err)
			}
		})
	}
	wg.Wait()
}
