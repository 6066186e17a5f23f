package mse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// btProtocol opens every plaintext BitTorrent handshake.
const btProtocol = "\x13BitTorrent protocol"

// The most a responder buffers before IA: Ya, PadA, HASH('req1', S),
// the xored req2, VC, crypto_provide, len(PadC), PadC, len(IA).
const (
	req1ScanEnd  = keyLen + maxPad + 20
	responderCap = req1ScanEnd + 20 + vcLen + 4 + 2 + maxPad + 2
)

// Result is the outcome of Accept.
type Result struct {
	Conn      net.Conn // the payload stream; for Encrypted, the decrypted IA is returned first by Read, then the stream
	Encrypted bool     // false: the peer sent a plaintext BitTorrent handshake (its bytes are returned first by Conn.Read)
	Method    uint32   // CryptoRC4 or CryptoPlain when Encrypted
	SKey      [20]byte // the info-hash the peer asked for (Encrypted only)
}

// Accept reads the first bytes of an incoming connection and tells a
// plaintext BitTorrent handshake from an MSE handshake.
//
// It reads one byte; if that is 19 it reads up to 20 bytes in all and
// compares them with "\x13BitTorrent protocol", stopping at the first
// difference (bytes are never awaited beyond what the answer needs). An
// MSE Ya is a uniformly distributed 768-bit number; that its first 20
// bytes spell the BitTorrent banner has a chance of about 2^-160, so a
// match is taken as plaintext. Plaintext is returned at once (Encrypted
// false, the bytes read replayed first by Result.Conn) if allowPlain, else
// refused with ErrPlaintextRefused.
//
// For MSE it runs the responder side: skeys reports, for a
// HASH('req2', SKEY) value, the SKEY of a torrent we serve (build its map
// with Req2); choose picks one method from the bitmask the initiator
// provides (return 0 to refuse; nil means PreferRC4). The method chosen
// must be one the initiator offered.
//
// ctx bounds the handshake as for Initiate, and so does PhaseTimeout; on
// error conn is left to the caller to close.
func Accept(ctx context.Context, conn net.Conn, allowPlain bool, skeys func(req2 [20]byte) ([20]byte, bool), choose func(provided uint32) uint32) (Result, error) {
	return accept(ctx, conn, allowPlain, skeys, choose, defaultConfig())
}

func accept(ctx context.Context, conn net.Conn, allowPlain bool, skeys func([20]byte) ([20]byte, bool), choose func(uint32) uint32, cfg config) (Result, error) {
	if skeys == nil {
		return Result{}, errors.New("mse responder: nil skeys")
	}
	if choose == nil {
		choose = PreferRC4
	}
	s := newSession(ctx, conn, "responder", responderCap)
	res, err := s.accept(allowPlain, skeys, choose, cfg)
	if err != nil {
		s.abort()
		return Result{}, err
	}
	if err := s.finish(); err != nil {
		return Result{}, err
	}
	return res, nil
}

func (s *session) accept(allowPlain bool, skeys func([20]byte) ([20]byte, bool), choose func(uint32) uint32, cfg config) (Result, error) {
	if err := s.phase("key exchange"); err != nil {
		return Result{}, err
	}
	plain, err := s.detectPlain()
	if err != nil {
		return Result{}, err
	}
	if plain {
		if !allowPlain {
			return Result{}, s.errorf(ErrPlaintextRefused, "first bytes")
		}
		return Result{Conn: &streamConn{Conn: s.conn, pending: s.leftover(0)}}, nil
	}

	// Steps 1 and 2: Ya in, Yb and PadB out. PadA is skipped by the req1
	// scan below.
	if err := s.fill(keyLen, keyLen); err != nil {
		return Result{}, s.errorf(err, "reading Ya")
	}
	kp, secret, err := responderKey(s.buf[:keyLen], cfg)
	if err != nil {
		return Result{}, s.errorf(err, "Ya")
	}
	if err := s.write(append(kp.pub[:], randomPad(cfg.padAB)...)); err != nil {
		return Result{}, s.errorf(err, "sending Yb")
	}

	// Step 3: find HASH('req1', S) within PadA's bound after Ya.
	if err := s.phase("negotiation"); err != nil {
		return Result{}, err
	}
	req1 := hash([]byte("req1"), secret)
	pos := -1
	for {
		if i := bytes.Index(s.buf[keyLen:], req1[:]); i >= 0 {
			pos = keyLen + i + len(req1)
			break
		}
		if len(s.buf) >= req1ScanEnd {
			return Result{}, s.errorf(protoErrorf("no HASH('req1', S) within %d bytes after Ya", maxPad+20), "step 3")
		}
		if err := s.fill(len(s.buf)+1, req1ScanEnd); err != nil {
			return Result{}, s.errorf(err, "looking for HASH('req1', S)")
		}
	}
	if err := s.fill(pos+20+vcLen+4+2, cap(s.buf)); err != nil {
		return Result{}, s.errorf(err, "reading step 3")
	}
	var req2 [20]byte
	req3 := hash([]byte("req3"), secret)
	for i := range req2 {
		req2[i] = s.buf[pos+i] ^ req3[i]
	}
	pos += 20
	skey, ok := skeys(req2)
	if !ok {
		return Result{}, s.errorf(ErrUnknownInfoHash, "step 3")
	}
	dec, enc := streamKeys(secret, skey)
	hdr := s.buf[pos : pos+vcLen+4+2]
	dec.XORKeyStream(hdr, hdr)
	if !bytes.Equal(hdr[:vcLen], make([]byte, vcLen)) {
		return Result{}, s.errorf(protoErrorf("bad VC"), "step 3")
	}
	provide := binary.BigEndian.Uint32(hdr[vcLen:])
	padC := int(binary.BigEndian.Uint16(hdr[vcLen+4:]))
	if padC > maxPad {
		return Result{}, s.errorf(protoErrorf("PadC of %d bytes: the limit is %d", padC, maxPad), "step 3")
	}
	pos += len(hdr)
	if err := s.fill(pos+padC+2, cap(s.buf)); err != nil {
		return Result{}, s.errorf(err, "reading PadC")
	}
	tail := s.buf[pos : pos+padC+2]
	dec.XORKeyStream(tail, tail)
	iaLen := int(binary.BigEndian.Uint16(tail[padC:]))
	if iaLen > MaxIA {
		return Result{}, s.errorf(protoErrorf("IA of %d bytes: the limit is %d", iaLen, MaxIA), "step 3")
	}
	pos += len(tail)

	// IA: what is buffered, then the rest straight from conn, so that
	// nothing beyond IA is read yet.
	ia := make([]byte, iaLen)
	n := copy(ia, s.buf[min(pos, len(s.buf)):])
	pos += n
	if _, err := io.ReadFull(s.conn, ia[n:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Result{}, s.errorf(err, "reading IA")
	}
	dec.XORKeyStream(ia, ia)

	sel := choose(provide)
	if sel == 0 {
		return Result{}, s.errorf(ErrNoMethod, "crypto_provide %#x", provide)
	}
	if !validMethod(sel, provide) {
		return Result{}, s.errorf(fmt.Errorf("choose returned %#x for crypto_provide %#x", sel, provide), "step 4")
	}

	// Step 4.
	padD := randomPad(cfg.padCD)
	msg := make([]byte, 0, vcLen+4+2+len(padD))
	msg = append(msg, make([]byte, vcLen)...)
	msg = binary.BigEndian.AppendUint32(msg, sel)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(padD)))
	msg = append(msg, padD...)
	enc.XORKeyStream(msg, msg)
	if err := s.write(msg); err != nil {
		return Result{}, s.errorf(err, "sending step 4")
	}

	rest := s.leftover(pos)
	c := &streamConn{Conn: s.conn, iaLen: iaLen}
	if sel == CryptoRC4 {
		c.enc, c.dec = enc, dec
		dec.XORKeyStream(rest, rest)
	}
	if len(ia)+len(rest) > 0 {
		c.pending = append(ia, rest...)
	}
	return Result{Conn: c, Encrypted: true, Method: sel, SKey: skey}, nil
}

// responderKey draws the responder's key once Ya is known and computes S.
func responderKey(ya []byte, cfg config) (*keyPair, []byte, error) {
	priv := cfg.priv
	if cfg.privFor != nil {
		priv = cfg.privFor(ya)
	}
	kp, err := newKeyPair(priv)
	if err != nil {
		return nil, nil, err
	}
	secret, err := kp.secret(ya)
	return kp, secret, err
}

// detectPlain reads the first byte, and when it is 19 up to 19 more, and
// reports whether they are the plaintext BitTorrent banner. Reading stops
// at the first byte that differs.
func (s *session) detectPlain() (bool, error) {
	for len(s.buf) < len(btProtocol) {
		if err := s.fill(len(s.buf)+1, len(btProtocol)); err != nil {
			return false, s.errorf(err, "reading first bytes")
		}
		if !bytes.HasPrefix([]byte(btProtocol), s.buf) {
			return false, nil
		}
	}
	return true, nil
}
