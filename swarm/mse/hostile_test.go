package mse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// rawInitiator plays an initiator by hand: Ya (of a fresh key), then after
// reading Yb, HASH('req1', S), the xored req2 and body encrypted with keyA.
func rawInitiator(c net.Conn, skey [20]byte, body []byte) error {
	kp, err := newKeyPair(nil)
	if err != nil {
		return err
	}
	if _, err := c.Write(kp.pub[:]); err != nil {
		return err
	}
	yb := make([]byte, keyLen)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, yb); err != nil {
		return err
	}
	s, err := kp.secret(yb)
	if err != nil {
		return err
	}
	req1, req2, req3 := hash([]byte("req1"), s), Req2(skey), hash([]byte("req3"), s)
	msg := append([]byte(nil), req1[:]...)
	for i := range req2 {
		msg = append(msg, req2[i]^req3[i])
	}
	enc, _ := streamKeys(s, skey)
	e := append([]byte(nil), body...)
	enc.XORKeyStream(e, e)
	_, err = c.Write(append(msg, e...))
	return err
}

// step3 builds the plaintext of step 3 after the two hashes.
func step3(provide uint32, padC int, iaLen int) []byte {
	b := make([]byte, vcLen)
	b = binary.BigEndian.AppendUint32(b, provide)
	b = binary.BigEndian.AppendUint16(b, uint16(padC))
	b = append(b, make([]byte, min(padC, maxPad))...)
	return binary.BigEndian.AppendUint16(b, uint16(iaLen))
}

func TestSilentAfterYa(t *testing.T) {
	a, b := tcpPair(t)
	kp, _ := newKeyPair(nil)
	if _, err := a.Write(kp.pub[:]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Accept(ctx, b, true, oneKey(testKey(1)), PreferRC4)
	if took := time.Since(start); !isTimeout(err) || took > 2*time.Second {
		t.Fatalf("after %v: %v", took, err)
	}
}

func TestSilentResponder(t *testing.T) {
	a, _ := tcpPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := Initiate(ctx, a, testKey(1), CryptoRC4, nil)
	if took := time.Since(start); !isTimeout(err) || took > 2*time.Second {
		t.Fatalf("after %v: %v", took, err)
	}
}

func TestMaximumPadding(t *testing.T) {
	skey := testKey(12)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	full := config{padAB: maxPad, padCD: maxPad}
	ia := randBytes(MaxIA)
	out := handshake(t, ctx, skey, CryptoRC4, ia, oneKey(skey), PreferRC4, full, full)
	if out.ierr != nil || out.aerr != nil {
		t.Fatalf("initiator: %v; responder: %v", out.ierr, out.aerr)
	}
	got := make([]byte, len(ia))
	if _, err := io.ReadFull(out.res.Conn, got); err != nil || !bytes.Equal(got, ia) {
		t.Fatalf("IA differs: %v", err)
	}
	pingPong(t, out.iconn, out.res.Conn)
}

func TestPadCTooLong(t *testing.T) {
	skey := testKey(13)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := handshake(t, ctx, skey, CryptoRC4, nil, oneKey(skey), PreferRC4, config{padAB: -1, padCD: maxPad + 1}, defaultConfig())
	if !errors.Is(out.aerr, ErrProtocol) || !strings.Contains(out.aerr.Error(), "PadC") || out.ierr == nil {
		t.Fatalf("responder: %v; initiator: %v", out.aerr, out.ierr)
	}
}

func TestPadDTooLong(t *testing.T) {
	skey := testKey(14)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := handshake(t, ctx, skey, CryptoRC4, nil, oneKey(skey), PreferRC4, defaultConfig(), config{padAB: -1, padCD: maxPad + 1})
	if !errors.Is(out.ierr, ErrProtocol) || !strings.Contains(out.ierr.Error(), "PadD") {
		t.Fatalf("initiator: %v", out.ierr)
	}
}

func TestIALengthTooLong(t *testing.T) {
	skey := testKey(15)
	a, b := tcpPair(t)
	ierr := make(chan error, 1)
	go func() { ierr <- rawInitiator(a, skey, step3(CryptoRC4, 0, MaxIA+1)) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Accept(ctx, b, false, oneKey(skey), PreferRC4)
	if e := <-ierr; e != nil {
		t.Fatalf("scripted initiator: %v", e)
	}
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "IA of") {
		t.Fatalf("%v", err)
	}
}

func TestBadPublicKeys(t *testing.T) {
	p := prime()
	pm1 := make([]byte, keyLen)
	p.Sub(p, bigOne()).FillBytes(pm1)
	for _, y := range [][]byte{make([]byte, keyLen), pm1, bytes.Repeat([]byte{0xff}, keyLen)} {
		a, b := tcpPair(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := a.Write(y); err != nil {
			t.Fatal(err)
		}
		_, err := Accept(ctx, b, false, oneKey(testKey(1)), PreferRC4)
		cancel()
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("Ya %x...: %v", y[:4], err)
		}
	}
}

// A stream of garbage after Ya: refused once the req1 window is read,
// without reading further.
func TestGarbageWithoutReq1(t *testing.T) {
	a, b := tcpPair(t)
	cc := &countConn{Conn: b}
	kp, _ := newKeyPair(nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Write(kp.pub[:])
		junk := bytes.Repeat([]byte{0x5a}, 4096)
		for {
			select {
			case <-stop:
				return
			default:
			}
			a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			a.Write(junk)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Accept(ctx, cc, false, oneKey(testKey(1)), PreferRC4)
	close(stop)
	<-done
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "req1") {
		t.Fatalf("%v", err)
	}
	if n := cc.n.Load(); n > req1ScanEnd {
		t.Fatalf("read %d bytes, bound %d", n, req1ScanEnd)
	}
}

// A responder whose step 4 never contains VC: refused once PadB's window is
// read; and one that stalls inside it: ended by the deadline.
func TestInitiatorNeverFindsVC(t *testing.T) {
	for _, stall := range []bool{false, true} {
		a, b := tcpPair(t)
		cc := &countConn{Conn: a}
		done := make(chan struct{})
		go func() {
			defer close(done)
			kp, _ := newKeyPair(nil)
			b.Write(kp.pub[:])
			if stall {
				b.Write(bytes.Repeat([]byte{1}, 100))
				return
			}
			b.SetWriteDeadline(time.Now().Add(2 * time.Second))
			b.Write(bytes.Repeat([]byte{1}, 64<<10)) // ends when the conn closes
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		start := time.Now()
		_, _, err := Initiate(ctx, cc, testKey(1), CryptoRC4, nil)
		took := time.Since(start)
		cancel()
		a.Close()
		<-done
		if stall {
			if !isTimeout(err) || took > 2*time.Second {
				t.Fatalf("stalled: after %v: %v", took, err)
			}
			continue
		}
		if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "VC") {
			t.Fatalf("%v", err)
		}
		if n := cc.n.Load(); n > vcScanEnd {
			t.Fatalf("read %d bytes, bound %d", n, vcScanEnd)
		}
	}
}

func bigOne() *big.Int { return big.NewInt(1) }

// leadingZeroPriv finds a private key that makes S = peerPub^key have a
// leading zero byte (and a non-zero second byte): the case libtorrent
// before 2.0.13 gets wrong.
func leadingZeroPriv(peerPub []byte) []byte {
	y := new(big.Int).SetBytes(peerPub)
	p := prime()
	s := make([]byte, keyLen)
	for range 1 << 14 {
		priv := randBytes(privBytes)
		new(big.Int).Exp(y, new(big.Int).SetBytes(priv), p).FillBytes(s)
		if s[0] == 0 && s[1] != 0 {
			return priv
		}
	}
	return nil // 2^14 tries: a chance of about e^-64
}

// Both of our sides pad S: a secret with a leading zero byte works.
func TestLeadingZeroSecret(t *testing.T) {
	skey := testKey(16)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acfg := defaultConfig()
	acfg.privFor = leadingZeroPriv
	out := handshake(t, ctx, skey, CryptoRC4, nil, oneKey(skey), PreferRC4, defaultConfig(), acfg)
	if out.ierr != nil || out.aerr != nil {
		t.Fatalf("initiator: %v; responder: %v", out.ierr, out.aerr)
	}
	pingPong(t, out.iconn, out.res.Conn)
}

// A responder that hangs up after step 3 when S has a leading zero byte
// (libtorrent before 2.0.13) yields ErrLeadingZeroSecret; otherwise not.
func TestLeadingZeroSecretHint(t *testing.T) {
	for _, zero := range []bool{true, false} {
		a, b := tcpPair(t)
		done := make(chan error, 1)
		go func() {
			ya := make([]byte, keyLen)
			b.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(b, ya); err != nil {
				done <- err
				return
			}
			var priv []byte
			if zero {
				priv = leadingZeroPriv(ya)
			}
			kp, s, err := responderKey(ya, config{priv: priv})
			if err == nil && (s[0] == 0) != zero {
				err = errors.New("wrong secret")
			}
			if err == nil {
				_, err = b.Write(kp.pub[:])
			}
			if err == nil {
				_, err = b.Read(make([]byte, 1000)) // some of step 3
			}
			b.Close()
			done <- err
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := initiate(ctx, a, testKey(1), CryptoRC4, nil, config{padAB: 0})
		cancel()
		if rerr := <-done; rerr != nil {
			t.Fatalf("scripted responder: %v", rerr)
		}
		if err == nil || errors.Is(err, ErrLeadingZeroSecret) != zero {
			t.Fatalf("leading zero %v: %v", zero, err)
		}
	}
}
