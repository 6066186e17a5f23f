package dht

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"net/netip"
	"time"
)

// Tokens (BEP 5): sha1(secret || IP) truncated. The secret changes every
// five minutes and tokens made with the current or the previous one are
// accepted, so a token lives five to ten minutes.
const (
	tokenLen    = 8
	secretEvery = 5 * time.Minute
)

type tokens struct {
	cur, prev [16]byte
	rotated   time.Time
}

func newTokens(now time.Time) tokens {
	var t tokens
	rand.Read(t.cur[:])
	rand.Read(t.prev[:])
	t.rotated = now
	return t
}

// rotate replaces the secret when it is five minutes old.
func (t *tokens) rotate(now time.Time) {
	if now.Sub(t.rotated) >= secretEvery || now.Before(t.rotated) {
		t.prev = t.cur
		rand.Read(t.cur[:])
		t.rotated = now
	}
}

func tokenFor(secret *[16]byte, ip netip.Addr) [tokenLen]byte {
	var buf [32]byte
	n := copy(buf[:], secret[:])
	a := ip.Unmap().As16()
	n += copy(buf[n:], a[:])
	sum := sha1.Sum(buf[:n])
	return [tokenLen]byte(sum[:tokenLen])
}

// token returns the token we give to ip.
func (t *tokens) token(ip netip.Addr) [tokenLen]byte { return tokenFor(&t.cur, ip) }

// valid reports whether tok is a token we gave ip within the last two
// secrets.
func (t *tokens) valid(tok []byte, ip netip.Addr) bool {
	if len(tok) != tokenLen {
		return false
	}
	cur, prev := tokenFor(&t.cur, ip), tokenFor(&t.prev, ip)
	return subtle.ConstantTimeCompare(tok, cur[:])|subtle.ConstantTimeCompare(tok, prev[:]) == 1
}
