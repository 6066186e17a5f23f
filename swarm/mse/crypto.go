package mse

import (
	"crypto/rand"
	"crypto/rc4"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"math/big"
)

// Crypto methods, the bits of crypto_provide and crypto_select.
const (
	CryptoPlain uint32 = 0x01
	CryptoRC4   uint32 = 0x02
)

// primeHex is the spec's 768-bit prime P; the generator is 2.
const primeHex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563"

const (
	keyLen     = 96   // bytes of a public key and of the secret S
	privBytes  = 20   // 160-bit private keys
	maxPad     = 512  // PadA, PadB, PadC, PadD
	vcLen      = 8    // the verification constant, 8 zero bytes
	rc4Discard = 1024 // keystream bytes thrown away before use
)

// prime returns P. It is parsed per handshake (a few microseconds, next to
// two modular exponentiations) so that no mutable *big.Int is shared.
func prime() *big.Int {
	p, ok := new(big.Int).SetString(primeHex, 16)
	if !ok {
		panic("mse: bad prime constant")
	}
	return p
}

// keyPair is one side's Diffie-Hellman key.
type keyPair struct {
	p    *big.Int
	priv *big.Int
	pub  [keyLen]byte // 2^priv mod P, big-endian, left-padded
}

// newKeyPair draws a 160-bit private key, or uses fixed when it is not nil
// (tests script a peer with a known key).
func newKeyPair(fixed []byte) (*keyPair, error) {
	kp := &keyPair{p: prime(), priv: new(big.Int)}
	if fixed != nil {
		kp.priv.SetBytes(fixed)
	}
	for kp.priv.Sign() == 0 {
		var b [privBytes]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		kp.priv.SetBytes(b[:])
	}
	new(big.Int).Exp(big.NewInt(2), kp.priv, kp.p).FillBytes(kp.pub[:])
	return kp, nil
}

// secret returns S = peer^priv mod P. A public key outside 2..P-2 is refused:
// 0, 1 and P-1 would make S guessable, and P or more is not a group element.
func (kp *keyPair) secret(peer []byte) ([]byte, error) {
	y := new(big.Int).SetBytes(peer)
	pm1 := new(big.Int).Sub(kp.p, big.NewInt(1))
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
		return nil, protoErrorf("public key out of range")
	}
	s := make([]byte, keyLen)
	new(big.Int).Exp(y, kp.priv, kp.p).FillBytes(s)
	return s, nil
}

// hash is the spec's HASH: SHA-1 of the concatenation of parts.
func hash(parts ...[]byte) [20]byte {
	h := sha1.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out [20]byte
	h.Sum(out[:0])
	return out
}

// Req2 returns HASH('req2', skey), the key for Accept's skeys lookup.
func Req2(skey [20]byte) [20]byte {
	return hash([]byte("req2"), skey[:])
}

// streamKeys derives both RC4 streams from S and SKEY: keyA is what the
// initiator encrypts with, keyB what the responder encrypts with.
func streamKeys(s []byte, skey [20]byte) (keyA, keyB *rc4.Cipher) {
	ka := hash([]byte("keyA"), s, skey[:])
	kb := hash([]byte("keyB"), s, skey[:])
	return newRC4(ka), newRC4(kb)
}

// newRC4 returns an RC4 stream with its first 1024 bytes already discarded.
func newRC4(key [20]byte) *rc4.Cipher {
	c, err := rc4.NewCipher(key[:])
	if err != nil { // only for keys of 0 or >256 bytes
		panic("mse: rc4: " + err.Error())
	}
	var junk [rc4Discard]byte
	c.XORKeyStream(junk[:], junk[:])
	return c
}

// validMethod reports whether sel names exactly one method we implement
// and is among those offered.
func validMethod(sel, offered uint32) bool {
	return (sel == CryptoPlain || sel == CryptoRC4) && sel&offered != 0
}

// PreferRC4 is a choose function for Accept: RC4 when offered, else
// plaintext when offered, else 0 (refuse).
func PreferRC4(provided uint32) uint32 {
	switch {
	case provided&CryptoRC4 != 0:
		return CryptoRC4
	case provided&CryptoPlain != 0:
		return CryptoPlain
	}
	return 0
}

// randomPad returns n random bytes, or a random number of them in
// [0, maxPad] when n is negative.
func randomPad(n int) []byte {
	if n < 0 {
		var b [2]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		n = int(binary.BigEndian.Uint16(b[:])) % (maxPad + 1)
	}
	pad := make([]byte, n)
	_, _ = rand.Read(pad)
	return pad
}
