package dht

import (
	"net/netip"
	"time"
)

// Bounds of the responses admitted per one-second window.
const (
	maxOtherPerIP = 128  // responses and errors from one IP
	maxOtherIPs   = 4096 // distinct IPs sending them
)

// limiter bounds the datagrams admitted per one-second window: queries
// in all and per source IP, responses per source IP (an IPv6 source
// counts as its /64, see ipKey). Only admitted
// datagrams enter the per-IP maps, so those stay bounded. It is owned by
// the reader goroutine.
type limiter struct {
	max, maxIP int
	start      time.Time
	total      int
	perIP      map[netip.Addr]int
	other      map[netip.Addr]int
}

func newLimiter(rate int) limiter {
	return limiter{max: rate, maxIP: max(1, rate/10),
		perIP: make(map[netip.Addr]int), other: make(map[netip.Addr]int)}
}

func (l *limiter) roll(now time.Time) {
	if d := now.Sub(l.start); d >= time.Second || d < 0 {
		l.start, l.total = now, 0
		clear(l.perIP)
		clear(l.other)
	}
}

// allow reports whether a query from ip may be answered at now, and
// counts it if so.
func (l *limiter) allow(ip netip.Addr, now time.Time) bool {
	l.roll(now)
	ip = ipKey(ip)
	c := l.perIP[ip]
	if l.total >= l.max || c >= l.maxIP {
		return false
	}
	l.perIP[ip] = c + 1
	l.total++
	return true
}

// allowOther reports whether a response or error from ip may be handled
// at now, and counts it if so.
func (l *limiter) allowOther(ip netip.Addr, now time.Time) bool {
	l.roll(now)
	ip = ipKey(ip)
	c, ok := l.other[ip]
	if c >= maxOtherPerIP || !ok && len(l.other) >= maxOtherIPs {
		return false
	}
	l.other[ip] = c + 1
	return true
}
