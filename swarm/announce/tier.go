package announce

import (
	"context"
	"slices"
	"time"

	"github.com/btfs/btfs/swarm/tracker"
)

// runTier keeps tier i announced until ctx is done: it sweeps the tier for
// a working tracker, then announces to that one on its interval. Announces
// run under actx, which outlives ctx a little.
func (t *Tiers) runTier(ctx, actx context.Context, i int) {
	var active *trackerState
	completedC := t.completedC
	for ctx.Err() == nil {
		if active == nil {
			if active = t.sweep(ctx, actx, i); active != nil {
				t.promote(i, active)
			} else if !sleep(ctx, time.Until(t.retryAt(i))) {
				return
			}
			continue
		}
		t.mu.Lock()
		wait := time.Until(active.next)
		t.mu.Unlock()
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-completedC:
			timer.Stop()
			completedC = nil
			t.mu.Lock()
			now := !active.sentComplete
			t.mu.Unlock()
			if !now {
				continue
			}
		case <-timer.C:
		}
		if ctx.Err() != nil {
			return
		}
		if !t.attempt(actx, active) {
			t.mu.Lock()
			active.active = false
			t.mu.Unlock()
			active = nil
		}
	}
}

// sweep tries tier i's URLs that are not backing off, in order, until one
// answers, and returns it; nil if none did. The next URL is tried as soon
// as one fails, or after HedgeDelay without an answer: the attempts still
// running when one succeeds finish on their own. It returns nil at once
// when ctx is done; the attempts run under actx.
func (t *Tiers) sweep(ctx, actx context.Context, i int) *trackerState {
	now := time.Now()
	t.mu.Lock()
	var cands []*trackerState
	for _, tr := range t.tiers[i] {
		if !tr.inFlight && !now.Before(tr.retryAt) {
			tr.inFlight = true // before the goroutine runs: a later sweep must skip it
			cands = append(cands, tr)
		}
	}
	t.mu.Unlock()
	results := make(chan *trackerState, len(cands)) // nil: failed; never blocks
	launched, pending := 0, 0
	defer func() {
		t.mu.Lock()
		for _, tr := range cands[launched:] {
			tr.inFlight = false
		}
		t.mu.Unlock()
	}()
	launch := func() {
		tr := cands[launched]
		launched++
		pending++
		t.attempts.Go(func() {
			if t.attempt(actx, tr) {
				results <- tr
			} else {
				results <- nil
			}
		})
	}
	hedge := time.NewTimer(t.cfg.HedgeDelay)
	defer hedge.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		if pending == 0 {
			if launched == len(cands) {
				return nil
			}
			launch()
			hedge.Reset(t.cfg.HedgeDelay)
		}
		select {
		case <-ctx.Done():
			return nil
		case tr := <-results:
			pending--
			if tr != nil {
				return tr
			}
			if launched < len(cands) {
				launch()
				hedge.Reset(t.cfg.HedgeDelay)
			}
		case <-hedge.C:
			if launched < len(cands) {
				launch()
				hedge.Reset(t.cfg.HedgeDelay)
			}
		}
	}
}

// promote moves tr to the front of tier i and makes it the active one.
func (t *Tiers) promote(i int, tr *trackerState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tier := t.tiers[i]
	j := slices.Index(tier, tr)
	copy(tier[1:j+1], tier[:j])
	tier[0] = tr
	tr.active = true
}

// retryAt returns when tier i next has a URL to try.
func (t *Tiers) retryAt(i int) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var at time.Time
	found := false
	for _, tr := range t.tiers[i] {
		if !tr.inFlight && (!found || tr.retryAt.Before(at)) {
			at, found = tr.retryAt, true
		}
	}
	if !found { // all are busy with attempts of an earlier sweep
		at = time.Now().Add(t.cfg.HedgeDelay)
	}
	return at
}

// attempt announces once to tr and records the result. It reports
// whether the tracker answered.
func (t *Tiers) attempt(ctx context.Context, tr *trackerState) bool {
	t.mu.Lock()
	tr.inFlight = true
	ev := tracker.EventNone
	switch {
	case !tr.succeeded:
		ev = tracker.EventStarted
	case t.completed && !tr.sentComplete:
		ev = tracker.EventCompleted
	}
	completedBefore := t.completed
	timeout := t.cfg.Timeout
	if !tr.succeeded {
		timeout = t.cfg.FirstTimeout
	}
	trackerID := tr.trackerID
	t.mu.Unlock()
	req := t.request(tr.url, trackerID, ev)

	actx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := t.cfg.Client.Announce(actx, req)
	cancel()
	if t.record(ctx, tr, ev, completedBefore, resp, err) {
		if len(resp.Peers) > 0 {
			t.peersMu.Lock()
			t.cfg.Peers(resp.Peers)
			t.peersMu.Unlock()
		}
		return true
	}
	return false
}

// record updates tr with an attempt's result and logs it; it reports
// whether the attempt succeeded.
func (t *Tiers) record(ctx context.Context, tr *trackerState, ev tracker.Event, completedBefore bool,
	resp *tracker.Response, err error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	tr.inFlight = false
	now := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return false // shutting down: not the tracker's fault
		}
		tr.fails++
		tr.lastErr = err.Error()
		tr.retryAt = now.Add(t.backoff(tr.fails))
		t.logResult(tr, resultFailed, "err", err, "fails", tr.fails, "retry_in", tr.retryAt.Sub(now).Round(time.Second))
		return false
	}
	tr.succeeded = true
	tr.sentComplete = tr.sentComplete || ev == tracker.EventCompleted || completedBefore
	tr.fails, tr.retryAt, tr.lastErr = 0, time.Time{}, ""
	tr.lastAnnounce = now
	tr.peers = len(resp.Peers)
	tr.interval = t.interval(resp)
	tr.next = now.Add(tr.interval)
	if resp.TrackerID != "" {
		tr.trackerID = resp.TrackerID
	}
	if resp.Warning != tr.warning {
		tr.warning = resp.Warning
		if resp.Warning != "" {
			t.log.Warn("tracker warning", "tracker", tr.url, "tier", tr.tier, "msg", resp.Warning)
		}
	}
	t.logResult(tr, resultOK, "event", ev.String(), "peers", tr.peers, "interval", tr.interval)
	return true
}

// request builds an announce to url, with the current Stats.
func (t *Tiers) request(url, trackerID string, ev tracker.Event) tracker.Request {
	st := t.cfg.Stats()
	return tracker.Request{
		URL: url, InfoHash: t.cfg.InfoHash, PeerID: t.cfg.PeerID, Port: t.cfg.Port,
		Uploaded: st.Uploaded, Downloaded: st.Downloaded, Left: st.Left, Event: ev,
		NumWant: t.cfg.NumWant, Key: t.key, TrackerID: trackerID,
	}
}

// logResult logs at info or warn when tr's result changes, else at debug.
func (t *Tiers) logResult(tr *trackerState, r result, args ...any) {
	args = append([]any{"tracker", tr.url, "tier", tr.tier}, args...)
	switch {
	case r == tr.logged:
		t.log.Debug("announce", args...)
	case r == resultOK:
		t.log.Info("tracker announce ok", args...)
	default:
		t.log.Warn("tracker announce failed", args...)
	}
	tr.logged = r
}

// interval is the tracker's interval capped at MaxInterval, but never
// below the tracker's min interval or MinInterval.
func (t *Tiers) interval(resp *tracker.Response) time.Duration {
	d := resp.Interval
	if t.cfg.MaxInterval > 0 {
		d = min(d, t.cfg.MaxInterval)
	}
	return max(d, resp.MinInterval, t.cfg.MinInterval)
}

// backoff is the wait after n consecutive failures: BackoffBase·2^(n-1),
// at most BackoffMax.
func (t *Tiers) backoff(n int) time.Duration {
	d := t.cfg.BackoffBase
	for i := 1; i < n && d < t.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, t.cfg.BackoffMax)
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
