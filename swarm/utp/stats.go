package utp

import "time"

// Stats is a snapshot of a connection's counters and congestion state.
type Stats struct {
	PacketsSent     int           // data and FIN packets, first transmissions
	PacketsResent   int           // retransmissions
	PacketsReceived int           // packets accepted from the peer
	Timeouts        int           // retransmission timeouts
	FastResends     int           // losses detected by duplicate or selective acks
	Probes          int           // tail loss probes (included in PacketsResent)
	RTT             time.Duration // smoothed round-trip time; 0 before the first sample
	RTO             time.Duration // current retransmission timeout
	Cwnd            int           // congestion window, bytes
	PeerWindow      int           // the peer's advertised receive window, bytes
	InFlight        int           // bytes sent and not acknowledged
}

// stats are the counters behind Stats; guarded by Conn.mu.
type stats struct {
	sent, resent, received, timeouts, fastResends, probes int
}

// Stats returns the connection's counters and congestion state.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		PacketsSent:     c.stats.sent,
		PacketsResent:   c.stats.resent,
		PacketsReceived: c.stats.received,
		Timeouts:        c.stats.timeouts,
		FastResends:     c.stats.fastResends,
		Probes:          c.stats.probes,
		RTT:             c.cc.rtt,
		RTO:             c.cc.rto,
		Cwnd:            int(c.cc.cwnd),
		PeerWindow:      c.peerWnd,
		InFlight:        c.inflight,
	}
}
