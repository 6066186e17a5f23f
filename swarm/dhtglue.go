package swarm

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/btfs/btfs/swarm/dht"
)

const (
	// dhtAnnounceEvery is how often a torrent re-announces itself and
	// looks for peers in the DHT once it has found some.
	dhtAnnounceEvery = 15 * time.Minute
	// dhtRetryEvery is the quicker pace while a lookup finds nobody.
	dhtRetryEvery = 30 * time.Second
	// dhtSaveEvery is how often the node table is written to disk.
	dhtSaveEvery = 10 * time.Minute
)

// startDHT starts the process's DHT node on pc, seeded from the saved node
// table.
func (c *Client) startDHT(pc net.PacketConn) error {
	var saved []netip.AddrPort
	if c.cfg.DHTStateFile != "" {
		var err error
		if saved, err = dht.LoadNodes(c.cfg.DHTStateFile); err != nil {
			c.log.Warn("dht: saved nodes", "err", err)
		}
	}
	n, err := dht.New(dht.Config{
		Conn:      pc,
		Bootstrap: c.cfg.DHTBootstrap,
		Nodes:     saved,
		Logger:    c.log.With("dht", pc.LocalAddr().String()),
	})
	if err != nil {
		pc.Close()
		return err
	}
	c.dht = n
	if c.cfg.DHTStateFile != "" {
		c.wg.Go(func() {
			tick := time.NewTicker(dhtSaveEvery)
			defer tick.Stop()
			for {
				select {
				case <-c.ctx.Done():
					return
				case <-tick.C:
					c.saveDHT()
				}
			}
		})
	}
	return nil
}

func (c *Client) saveDHT() {
	if c.dht == nil || c.cfg.DHTStateFile == "" {
		return
	}
	if nodes := c.dht.Nodes(); len(nodes) > 0 {
		if err := dht.SaveNodes(c.cfg.DHTStateFile, nodes); err != nil {
			c.log.Warn("dht: save nodes", "err", err)
		}
	}
}

// stopDHT saves the node table and stops the node.
func (c *Client) stopDHT() {
	if c.dht == nil {
		return
	}
	c.saveDHT()
	c.dht.Close()
}

// DHT returns the process's DHT node, or nil.
func (c *Client) DHT() *dht.Node { return c.dht }

// dhtNode is the DHT node this torrent may use: none for private
// torrents (BEP 27).
func (t *Torrent) dhtNode() *dht.Node {
	if t.private() || t.opts.NoDHT {
		return nil
	}
	return t.cl.dht
}

// startDHTAnnouncer looks the torrent up in the DHT and announces it, at
// once and then periodically, feeding the peers found to the loop.
func (t *Torrent) startDHTAnnouncer() {
	d := t.dhtNode()
	if d == nil {
		return
	}
	t.wg.Go(func() {
		for {
			found := 0
			ctx, cancel := context.WithTimeout(t.ctx, time.Minute)
			stored, err := d.Announce(ctx, t.mi.InfoHash, t.cl.port, func(peers []netip.AddrPort) {
				found += len(peers)
				t.AddPeers(peers)
			})
			cancel()
			if err != nil && t.ctx.Err() == nil {
				t.log.Debug("dht announce", "err", err)
			}
			t.dhtPeers.Add(int64(found))
			wait := dhtAnnounceEvery
			if stored == 0 || found == 0 && !t.opts.Seed {
				wait = dhtRetryEvery
			}
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	})
}
