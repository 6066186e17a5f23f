package mse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// The most an initiator reads before the payload: Yb, PadB, VC,
// crypto_select, len(PadD), PadD.
const (
	vcScanEnd    = keyLen + maxPad + vcLen
	initiatorCap = vcScanEnd + 4 + 2 + maxPad
)

// Initiate runs the initiator side on conn for the torrent whose info-hash
// is skey, offering the methods in provide (a bitmask of CryptoPlain and
// CryptoRC4), sending ia as the initial payload inside step 3 (may be nil;
// at most MaxIA bytes). It returns a net.Conn that carries the payload
// stream with the method the responder selected (RC4 or plain; reads and
// writes after the handshake go through it), and that method.
//
// ctx bounds the whole handshake (its deadline becomes conn's deadline, and
// its cancellation unblocks conn at once); each phase is also bounded by
// PhaseTimeout. On success conn's deadline is cleared. On error conn is
// left to the caller to close.
func Initiate(ctx context.Context, conn net.Conn, skey [20]byte, provide uint32, ia []byte) (net.Conn, uint32, error) {
	return initiate(ctx, conn, skey, provide, ia, defaultConfig())
}

func initiate(ctx context.Context, conn net.Conn, skey [20]byte, provide uint32, ia []byte, cfg config) (net.Conn, uint32, error) {
	if provide == 0 || provide&^(CryptoPlain|CryptoRC4) != 0 {
		return nil, 0, fmt.Errorf("mse initiator: crypto_provide %#x: want a non-empty set of CryptoPlain and CryptoRC4", provide)
	}
	if len(ia) > MaxIA {
		return nil, 0, fmt.Errorf("mse initiator: initial payload of %d bytes: the limit is %d", len(ia), MaxIA)
	}
	s := newSession(ctx, conn, "initiator", initiatorCap)
	c, sel, err := s.initiate(skey, provide, ia, cfg)
	if err != nil {
		s.abort()
		return nil, 0, err
	}
	if err := s.finish(); err != nil {
		return nil, 0, err
	}
	return c, sel, nil
}

func (s *session) initiate(skey [20]byte, provide uint32, ia []byte, cfg config) (*streamConn, uint32, error) {
	// Steps 1 and 2: Ya and PadA out, Yb in. PadB is skipped by the VC
	// scan below.
	if err := s.phase("key exchange"); err != nil {
		return nil, 0, err
	}
	kp, err := newKeyPair(cfg.priv)
	if err != nil {
		return nil, 0, s.errorf(err, "key exchange")
	}
	if err := s.write(append(kp.pub[:], randomPad(cfg.padAB)...)); err != nil {
		return nil, 0, s.errorf(err, "sending Ya")
	}
	if err := s.fill(keyLen, keyLen); err != nil {
		return nil, 0, s.errorf(err, "reading Yb")
	}
	secret, err := kp.secret(s.buf[:keyLen])
	if err != nil {
		return nil, 0, s.errorf(err, "Yb")
	}

	// Step 3.
	if err := s.phase("negotiation"); err != nil {
		return nil, 0, err
	}
	enc, dec := streamKeys(secret, skey)
	req1 := hash([]byte("req1"), secret)
	req2 := Req2(skey)
	req3 := hash([]byte("req3"), secret)
	padC := randomPad(cfg.padCD)
	msg := make([]byte, 0, 40+vcLen+4+2+len(padC)+2+len(ia))
	msg = append(msg, req1[:]...)
	for i := range req2 {
		msg = append(msg, req2[i]^req3[i])
	}
	encStart := len(msg)
	msg = append(msg, make([]byte, vcLen)...)
	msg = binary.BigEndian.AppendUint32(msg, provide)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(padC)))
	msg = append(msg, padC...)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(ia)))
	msg = append(msg, ia...)
	enc.XORKeyStream(msg[encStart:], msg[encStart:])
	if err := s.write(msg); err != nil {
		return nil, 0, s.errorf(err, "sending step 3")
	}

	// Step 4: find ENCRYPT(VC) within PadB's bound after Yb. The pattern
	// is VC run through dec, which then continues right after VC.
	vc := make([]byte, vcLen)
	dec.XORKeyStream(vc, vc)
	pos := -1
	for {
		if i := bytes.Index(s.buf[keyLen:], vc); i >= 0 {
			pos = keyLen + i + vcLen
			break
		}
		if len(s.buf) >= vcScanEnd {
			return nil, 0, s.errorf(protoErrorf("no VC within %d bytes after Yb", maxPad+vcLen), "step 4")
		}
		if err := s.fill(len(s.buf)+1, vcScanEnd); err != nil {
			if secret[0] == 0 && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
				err = fmt.Errorf("%w (%w)", err, ErrLeadingZeroSecret)
			}
			return nil, 0, s.errorf(err, "looking for VC")
		}
	}
	if err := s.fill(pos+6, cap(s.buf)); err != nil {
		return nil, 0, s.errorf(err, "reading crypto_select")
	}
	hdr := s.buf[pos : pos+6]
	dec.XORKeyStream(hdr, hdr)
	sel := binary.BigEndian.Uint32(hdr)
	padD := int(binary.BigEndian.Uint16(hdr[4:]))
	if !validMethod(sel, provide) {
		return nil, 0, s.errorf(protoErrorf("crypto_select %#x for crypto_provide %#x", sel, provide), "step 4")
	}
	if padD > maxPad {
		return nil, 0, s.errorf(protoErrorf("PadD of %d bytes: the limit is %d", padD, maxPad), "step 4")
	}
	pos += 6
	if err := s.fill(pos+padD, cap(s.buf)); err != nil {
		return nil, 0, s.errorf(err, "reading PadD")
	}
	dec.XORKeyStream(s.buf[pos:pos+padD], s.buf[pos:pos+padD])
	pos += padD

	c := &streamConn{Conn: s.conn, pending: s.leftover(pos)}
	if sel == CryptoRC4 {
		c.enc, c.dec = enc, dec
		c.dec.XORKeyStream(c.pending, c.pending)
	}
	return c, sel, nil
}
