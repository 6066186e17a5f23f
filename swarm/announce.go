package swarm

import (
	"context"
	"errors"
	"time"

	"github.com/btfs/btfs/swarm/tracker"
)

// Announcing here is deliberately simple: every tracker URL of every tier
// is announced to on its own schedule. BEP 12 tier policy replaces it in
// swarm/announce.

const stoppedTimeout = 2 * time.Second

func (t *Torrent) startAnnouncers() {
	for _, tier := range t.mi.Trackers() {
		for _, u := range tier {
			t.wg.Go(func() { t.announceLoop(u) })
		}
	}
}

func (t *Torrent) announceRequest(u string, ev tracker.Event) tracker.Request {
	return tracker.Request{
		URL: u, InfoHash: t.mi.InfoHash, PeerID: t.cl.cfg.PeerID, Port: t.cl.port,
		Uploaded: t.uploaded.Load(), Downloaded: t.downloaded.Load(), Left: t.left.Load(),
		Event: ev, NumWant: 50,
	}
}

// announceLoop announces to one tracker until the torrent stops, then
// says "stopped" if it ever got through.
func (t *Torrent) announceLoop(u string) {
	log := t.log.With("tracker", u)
	ev := tracker.EventStarted
	ok := false
	fails := 0
	completed := t.completeC
	for {
		resp, err := t.cl.cfg.Tracker.Announce(t.ctx, t.announceRequest(u, ev))
		wait := backoff(fails + 2)
		switch {
		case err == nil:
			ok, fails, ev = true, 0, tracker.EventNone
			log.Debug("announced", "peers", len(resp.Peers), "interval", resp.Interval)
			t.AddPeers(resp.Peers)
			wait = resp.Interval
			if c := t.cl.cfg.MaxAnnounceInterval; c > 0 && wait > c {
				wait = c
			}
			if resp.Warning != "" {
				log.Warn("tracker warning", "msg", resp.Warning)
			}
		case t.ctx.Err() != nil:
		default:
			fails++
			var fe *tracker.FailureError
			if errors.As(err, &fe) || fails == 1 {
				log.Warn("announce failed", "err", err)
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-t.ctx.Done():
			timer.Stop()
			if ok {
				ctx, cancel := context.WithTimeout(context.Background(), stoppedTimeout)
				_, _ = t.cl.cfg.Tracker.Announce(ctx, t.announceRequest(u, tracker.EventStopped))
				cancel()
			}
			return
		case <-completed:
			timer.Stop()
			completed = nil
			if ok {
				ev = tracker.EventCompleted
			}
		case <-timer.C:
		}
	}
}
