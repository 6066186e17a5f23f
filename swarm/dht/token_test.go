package dht

import (
	"net/netip"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	t0 := time.Now()
	tk := newTokens(t0)
	ip, other := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	tok := tk.token(ip)
	if !tk.valid(tok[:], ip) {
		t.Fatal("fresh token rejected")
	}
	if tk.valid(tok[:], other) {
		t.Error("token accepted from another IP")
	}
	if tk.valid(tok[:tokenLen-1], ip) || tk.valid(append(tok[:], 0), ip) {
		t.Error("token of the wrong length accepted")
	}
	tk.rotate(t0.Add(secretEvery - time.Second))
	if got := tk.token(ip); got != tok {
		t.Error("secret rotated early")
	}
	tk.rotate(t0.Add(secretEvery))
	if got := tk.token(ip); got == tok {
		t.Error("secret not rotated after 5 minutes")
	}
	if !tk.valid(tok[:], ip) {
		t.Error("token of the previous secret rejected")
	}
	tk.rotate(t0.Add(2 * secretEvery))
	if tk.valid(tok[:], ip) {
		t.Error("token two secrets old accepted")
	}
	mapped := netip.AddrFrom16(ip.As16())
	if a, b := tk.token(ip), tk.token(mapped); a != b {
		t.Error("an IPv4 address and its IPv4-mapped form get different tokens")
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Now()
	l := newLimiter(20) // 20/s in all, 2/s per IP
	ok := 0
	for i := range 100 {
		ip := netip.AddrFrom4([4]byte{10, 0, 0, byte(i % 50)})
		if l.allow(ip, t0) {
			ok++
		}
	}
	if ok != 20 {
		t.Errorf("allowed %d in one second, want 20", ok)
	}
	if len(l.perIP) > 20 {
		t.Errorf("per-IP map holds %d addresses", len(l.perIP))
	}
	l = newLimiter(20)
	ip := netip.MustParseAddr("10.0.0.1")
	for i, want := range []bool{true, true, false} {
		if got := l.allow(ip, t0); got != want {
			t.Errorf("query %d from one IP: allowed %v, want %v (bound 2)", i+1, got, want)
		}
	}
	if !l.allow(ip, t0.Add(time.Second)) {
		t.Error("the bound did not reset after a second")
	}
}
