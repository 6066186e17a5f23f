package announce

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/tracker"
)

func testConfig(f *fakeClient, sink *peerSink, tiers ...[]string) Config {
	return Config{
		Tiers: tiers, Client: f, Peers: sink.add, Port: 6881,
		MinInterval: 20 * time.Millisecond, BackoffBase: 20 * time.Millisecond,
		Rand: rand.New(rand.NewPCG(1, 2)),
	}
}

// TestTierFallthrough: a black-hole tracker in the first tier, or first in
// a tier, does not hold back the peers another tracker has.
func TestTierFallthrough(t *testing.T) {
	t.Run("dead first tier", func(t *testing.T) {
		f, sink := newFake(), newSink()
		f.set("http://dead/announce", blackHole)
		f.set("http://good/announce", ok(time.Hour, "127.0.0.2:1"))
		ts := New(testConfig(f, sink, []string{"http://dead/announce"}, []string{"http://good/announce"}))
		start(t, ts)
		if took := sink.wait(t, "127.0.0.2:1", 2*time.Second); took > 500*time.Millisecond {
			t.Fatalf("peers after %v", took)
		}
	})
	t.Run("black hole first in tier", func(t *testing.T) {
		f, sink := newFake(), newSink()
		ts := New(testConfig(f, sink, []string{"http://a/announce", "http://b/announce"}))
		urls := order(ts, 0)
		f.set(urls[0], blackHole)
		f.set(urls[1], ok(time.Hour, "127.0.0.3:1"))
		start(t, ts)
		took := sink.wait(t, "127.0.0.3:1", 3*time.Second)
		if took < 900*time.Millisecond || took > 1500*time.Millisecond {
			t.Fatalf("peers after %v, want about HedgeDelay (1 s)", took)
		}
	})
	t.Run("failing first in tier", func(t *testing.T) {
		f, sink := newFake(), newSink()
		ts := New(testConfig(f, sink, []string{"http://a/announce", "http://b/announce"}))
		urls := order(ts, 0)
		f.set(urls[0], fail)
		f.set(urls[1], ok(time.Hour, "127.0.0.4:1"))
		start(t, ts)
		if took := sink.wait(t, "127.0.0.4:1", 2*time.Second); took > 300*time.Millisecond {
			t.Fatalf("peers after %v, want at once", took)
		}
	})
}

func TestPromotion(t *testing.T) {
	f, sink := newFake(), newSink()
	ts := New(testConfig(f, sink, []string{"http://a/announce", "http://b/announce", "http://c/announce"}))
	urls := order(ts, 0)
	f.set(urls[0], fail)
	f.set(urls[1], ok(10*time.Millisecond, "127.0.0.5:1"))
	f.set(urls[2], ok(10*time.Millisecond, "127.0.0.6:1"))
	start(t, ts)
	sink.wait(t, "127.0.0.5:1", 2*time.Second)
	time.Sleep(200 * time.Millisecond) // several re-announces

	st := ts.Status()
	if got := []string{st[0].URL, st[1].URL, st[2].URL}; !slices.Equal(got, []string{urls[1], urls[0], urls[2]}) {
		t.Fatalf("order %v, want %v promoted", got, urls[1])
	}
	if !st[0].Active || st[1].Active || st[2].Active {
		t.Fatalf("active flags wrong: %+v", st)
	}
	if n := len(f.callsTo(urls[1])); n < 4 {
		t.Fatalf("working tracker announced %d times", n)
	}
	if n := len(f.callsTo(urls[0])); n != 1 {
		t.Fatalf("failed tracker tried %d times while its tier works", n)
	}
	if n := len(f.callsTo(urls[2])); n != 0 {
		t.Fatalf("third tracker tried %d times though the second worked", n)
	}
}

func TestEvents(t *testing.T) {
	f, sink := newFake(), newSink()
	var left atomic.Int64
	left.Store(100)
	cfg := testConfig(f, sink, []string{"http://a/announce"}, []string{"http://b/announce"}, []string{"http://dead/announce"})
	cfg.Stats = func() Stats { return Stats{Left: left.Load()} }
	f.set("http://a/announce", ok(time.Millisecond))
	f.set("http://b/announce", ok(time.Hour)) // never re-announces by itself
	f.set("http://dead/announce", fail)
	ts := New(cfg)
	stop := start(t, ts)
	time.Sleep(100 * time.Millisecond)
	left.Store(0)
	ts.Completed()
	ts.Completed() // idempotent
	time.Sleep(100 * time.Millisecond)
	stop()

	const (
		none      = tracker.EventNone
		started   = tracker.EventStarted
		completed = tracker.EventCompleted
		stopped   = tracker.EventStopped
	)
	for _, u := range []string{"http://a/announce", "http://b/announce"} {
		ev := f.events(u)
		if len(ev) < 3 || ev[0] != started || ev[len(ev)-1] != stopped {
			t.Fatalf("%s: events %v", u, ev)
		}
		if n := countEvents(ev, completed); n != 1 {
			t.Fatalf("%s: %d completed in %v", u, n, ev)
		}
		if countEvents(ev, started) != 1 || countEvents(ev, stopped) != 1 {
			t.Fatalf("%s: events %v", u, ev)
		}
	}
	if ev := f.events("http://a/announce"); len(ev) < 6 || ev[len(ev)-2] != none {
		t.Fatalf("a: want none after completed: %v", ev)
	}
	// b announces only for completed, at once, between its started and stopped.
	if ev := f.events("http://b/announce"); !slices.Equal(ev, []tracker.Event{started, completed, stopped}) {
		t.Fatalf("b: events %v", ev)
	}
	for _, c := range f.callsTo("http://a/announce") {
		if c.event == completed && c.left != 0 {
			t.Fatalf("completed sent with left=%d", c.left)
		}
	}
	for _, e := range f.events("http://dead/announce") {
		if e != started {
			t.Fatalf("dead tracker got %v; want started only (no stopped)", f.events("http://dead/announce"))
		}
	}
}

func countEvents(ev []tracker.Event, e tracker.Event) int {
	n := 0
	for _, x := range ev {
		if x == e {
			n++
		}
	}
	return n
}

func TestIntervals(t *testing.T) {
	tests := []struct {
		name      string
		resp      time.Duration // tracker's interval
		min, max  time.Duration
		wantEvery time.Duration
	}{
		{"tracker's", 50 * time.Millisecond, 10 * time.Millisecond, 0, 50 * time.Millisecond},
		{"floor", time.Millisecond, 40 * time.Millisecond, 0, 40 * time.Millisecond},
		{"cap", time.Hour, 10 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, sink := newFake(), newSink()
			cfg := testConfig(f, sink, []string{"http://a/announce"})
			cfg.MinInterval, cfg.MaxInterval = tt.min, tt.max
			f.set("http://a/announce", ok(tt.resp))
			stop := start(t, New(cfg))
			time.Sleep(10*tt.wantEvery + tt.wantEvery/2)
			stop()
			calls := f.callsTo("http://a/announce")
			calls = calls[:len(calls)-1] // stopped
			if len(calls) < 6 || len(calls) > 12 {
				t.Fatalf("%d announces in %v, want about 10", len(calls), 10*tt.wantEvery)
			}
			for i := 1; i < len(calls); i++ {
				if gap := calls[i].at.Sub(calls[i-1].at); gap < tt.wantEvery-2*time.Millisecond {
					t.Fatalf("announce %d after %v, want %v", i, gap, tt.wantEvery)
				}
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	f, sink := newFake(), newSink()
	logs := &levelCounter{}
	cfg := testConfig(f, sink, []string{"http://a/announce"})
	cfg.BackoffBase, cfg.BackoffMax = 20*time.Millisecond, 80*time.Millisecond
	cfg.Logger = slog.New(logs)
	f.set("http://a/announce", fail)
	ts := New(cfg)
	start(t, ts)
	time.Sleep(400 * time.Millisecond) // 0, 20, 60, 140, 220, 300, 380 ms

	calls := f.callsTo("http://a/announce")
	if len(calls) < 5 || len(calls) > 8 {
		t.Fatalf("%d attempts in 400 ms, want about 7", len(calls))
	}
	want := []time.Duration{20, 40, 80, 80, 80}
	for i := 1; i < len(calls) && i <= len(want); i++ {
		w := want[i-1] * time.Millisecond
		if gap := calls[i].at.Sub(calls[i-1].at); gap < w-2*time.Millisecond || gap > w+40*time.Millisecond {
			t.Fatalf("retry %d after %v, want %v", i, gap, w)
		}
	}
	st := ts.Status()[0]
	if st.LastErr != "tracker is down" || !st.LastAnnounce.IsZero() || st.Active || st.NextAnnounce.IsZero() {
		t.Fatalf("status %+v", st)
	}
	if n := logs.count("WARN tracker announce failed"); n != 1 {
		t.Fatalf("%d warnings for one failing state", n)
	}

	// It recovers: started (it never knew us), then regular announces.
	f.set("http://a/announce", ok(10*time.Millisecond, "127.0.0.7:1"))
	sink.wait(t, "127.0.0.7:1", time.Second)
	time.Sleep(100 * time.Millisecond)
	if ev := f.events("http://a/announce"); countEvents(ev, tracker.EventStarted) != len(calls)+1 || ev[len(ev)-1] != tracker.EventNone {
		t.Fatalf("events %v", ev)
	}
	if n := logs.count("INFO tracker announce ok"); n != 1 {
		t.Fatalf("%d infos for one working state", n)
	}
}

func TestStatus(t *testing.T) {
	f, sink := newFake(), newSink()
	ts := New(testConfig(f, sink, []string{"http://a/announce"}, []string{"http://b/announce"}))
	f.set("http://a/announce", ok(time.Hour, "127.0.0.8:1", "127.0.0.9:1"))
	f.set("http://b/announce", fail)
	before := time.Now()
	start(t, ts)
	sink.wait(t, "127.0.0.8:1", time.Second)
	time.Sleep(50 * time.Millisecond)
	st := ts.Status()
	if len(st) != 2 {
		t.Fatalf("status %+v", st)
	}
	a, b := st[0], st[1]
	if a.URL != "http://a/announce" || a.Tier != 0 || !a.Active || a.Peers != 2 || a.Interval != time.Hour ||
		a.LastErr != "" || a.LastAnnounce.Before(before) || !a.NextAnnounce.Equal(a.LastAnnounce.Add(time.Hour)) {
		t.Fatalf("a: %+v", a)
	}
	if b.URL != "http://b/announce" || b.Tier != 1 || b.Active || b.LastErr == "" || !b.NextAnnounce.After(before) {
		t.Fatalf("b: %+v", b)
	}
}

// TestStoppedTimeout: Run returns promptly after cancel although a tracker
// never answers stopped.
func TestStoppedTimeout(t *testing.T) {
	f, sink := newFake(), newSink()
	cfg := testConfig(f, sink, []string{"http://a/announce"}, []string{"http://hole/announce"})
	cfg.StoppedTimeout = 100 * time.Millisecond
	okA := ok(time.Hour, "127.0.0.10:1")
	f.set("http://a/announce", func(ctx context.Context, req tracker.Request) (*tracker.Response, error) {
		if req.Event == tracker.EventStopped {
			return blackHole(ctx, req)
		}
		return okA(ctx, req)
	})
	f.set("http://hole/announce", blackHole)
	stop := start(t, New(cfg))
	sink.wait(t, "127.0.0.10:1", time.Second)
	if took := stop(); took < 90*time.Millisecond || took > 500*time.Millisecond {
		t.Fatalf("Run returned %v after cancel, want about StoppedTimeout", took)
	}
	if ev := f.events("http://a/announce"); ev[len(ev)-1] != tracker.EventStopped {
		t.Fatalf("a: %v", ev)
	}
	if ev := f.events("http://hole/announce"); slices.Contains(ev, tracker.EventStopped) {
		t.Fatalf("stopped sent to a tracker that never answered: %v", ev)
	}
}

func TestNoTrackers(t *testing.T) {
	ts := New(Config{Client: newFake(), Tiers: [][]string{{}, {""}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	ts.Run(ctx)
	if st := ts.Status(); len(st) != 0 {
		t.Fatalf("status %+v", st)
	}
}

// TestStopWaitsForInFlight: an announce in flight at cancel finishes
// before stopped is sent, so the tracker cannot see it after stopped.
func TestStopWaitsForInFlight(t *testing.T) {
	f, sink := newFake(), newSink()
	var inFlight, finished atomic.Int32
	f.set("http://a/announce", func(ctx context.Context, req tracker.Request) (*tracker.Response, error) {
		if req.Event == tracker.EventStopped {
			if inFlight.Load() != 0 {
				t.Error("stopped sent while an announce is in flight")
			}
			return &tracker.Response{Interval: time.Hour}, nil
		}
		inFlight.Add(1)
		defer inFlight.Add(-1)
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		finished.Add(1)
		return &tracker.Response{Interval: time.Millisecond, Peers: addrs("127.0.0.11:1")}, nil
	})
	stop := start(t, New(testConfig(f, sink, []string{"http://a/announce"})))
	sink.wait(t, "127.0.0.11:1", time.Second)
	time.Sleep(50 * time.Millisecond) // the next one, 20 ms later, is in flight
	if inFlight.Load() != 1 {
		t.Fatal("no announce in flight at cancel")
	}
	before := finished.Load()
	stop()
	if finished.Load() != before+1 {
		t.Fatal("the announce in flight at cancel was abandoned")
	}
	if ev := f.events("http://a/announce"); ev[len(ev)-1] != tracker.EventStopped {
		t.Fatalf("events %v", ev)
	}
}
