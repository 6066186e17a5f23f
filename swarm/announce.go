package swarm

import (
	"time"

	"github.com/btfs/btfs/swarm/announce"
)

// startAnnouncers runs the torrent's BEP 12 tiers (swarm/announce decides
// when and where; swarm/tracker speaks HTTP and UDP) until the torrent
// stops, and reports completion to them.
func (t *Torrent) startAnnouncers() {
	tiers := t.mi.Trackers()
	if len(tiers) == 0 {
		return
	}
	cfg := announce.Config{
		Tiers:    tiers,
		InfoHash: t.mi.InfoHash,
		PeerID:   t.cl.cfg.PeerID,
		Port:     t.cl.port,
		Client:   t.cl.cfg.Tracker,
		Stats: func() announce.Stats {
			return announce.Stats{Uploaded: t.uploaded.Load(), Downloaded: t.downloaded.Load(), Left: t.left.Load()}
		},
		Peers:       t.AddPeers,
		Logger:      t.log,
		MaxInterval: t.cl.cfg.MaxAnnounceInterval,
	}
	if m := t.cl.cfg.MaxAnnounceInterval; m > 0 && m < 30*time.Second {
		cfg.MinInterval = m // tests and local swarms re-announce quickly
	}
	a := announce.New(cfg)
	t.announcer = a
	t.wg.Go(func() { a.Run(t.ctx) })
	t.wg.Go(func() {
		select {
		case <-t.completeC:
			a.Completed()
		case <-t.ctx.Done():
		}
	})
}

// TrackerStatus reports each tracker's last result (nil without trackers).
func (t *Torrent) TrackerStatus() []announce.TrackerStatus {
	if t.announcer == nil {
		return nil
	}
	return t.announcer.Status()
}
