package mse

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// scriptConn plays a peer that has sent script and then closed: Reads
// drain it, then return io.EOF; Writes are discarded.
type scriptConn struct{ r *bytes.Reader }

func newScriptConn(script []byte) *scriptConn { return &scriptConn{r: bytes.NewReader(script)} }

func (c *scriptConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzPeers fixes both private keys so that a fuzz input can be turned into
// a correctly encrypted peer stream: the fuzzer then explores what follows
// the key exchange, not just a key it cannot guess. The keys are tiny (16
// bits) so that the modular exponentiations stay cheap under the fuzzer's
// coverage instrumentation; the protocol does not care.
type fuzzPeers struct {
	privA, privB []byte
	a, b         *keyPair
	secret       []byte
	skey         [20]byte
}

func newFuzzPeers(tb testing.TB) *fuzzPeers {
	fp := &fuzzPeers{privA: []byte{0x81, 0x11}, privB: []byte{0x82, 0x22}, skey: testKey(42)}
	var err error
	if fp.a, err = newKeyPair(fp.privA); err != nil {
		tb.Fatal(err)
	}
	if fp.b, err = newKeyPair(fp.privB); err != nil {
		tb.Fatal(err)
	}
	if fp.secret, err = fp.a.secret(fp.b.pub[:]); err != nil {
		tb.Fatal(err)
	}
	return fp
}

// initiatorStream is what an initiator with privA sends: Ya, pad bytes,
// HASH('req1', S), the xored req2, then body encrypted with keyA.
func (fp *fuzzPeers) initiatorStream(pad int, body []byte) []byte {
	req1, req2, req3 := hash([]byte("req1"), fp.secret), Req2(fp.skey), hash([]byte("req3"), fp.secret)
	b := append([]byte(nil), fp.a.pub[:]...)
	b = append(b, bytes.Repeat([]byte{0xa5}, pad)...)
	b = append(b, req1[:]...)
	for i := range req2 {
		b = append(b, req2[i]^req3[i])
	}
	enc, _ := streamKeys(fp.secret, fp.skey)
	start := len(b)
	b = append(b, body...)
	enc.XORKeyStream(b[start:], b[start:])
	return b
}

// responderStream is what a responder with privB sends: Yb, pad bytes,
// then body encrypted with keyB.
func (fp *fuzzPeers) responderStream(pad int, body []byte) []byte {
	b := append([]byte(nil), fp.b.pub[:]...)
	b = append(b, bytes.Repeat([]byte{0x5a}, pad)...)
	_, enc := streamKeys(fp.secret, fp.skey)
	start := len(b)
	b = append(b, body...)
	enc.XORKeyStream(b[start:], b[start:])
	return b
}

func FuzzAccept(f *testing.F) {
	fp := newFuzzPeers(f)
	hs := btHandshake(fp.skey, testKey(1))
	valid := append(step3(CryptoPlain|CryptoRC4, 0, len(hs)), hs...)
	f.Add(true, uint16(0), append(valid, "payload"...))
	f.Add(true, uint16(512), valid)
	f.Add(true, uint16(3), step3(CryptoRC4, 600, 0))
	f.Add(true, uint16(3), step3(CryptoRC4, 0, 0xffff))
	f.Add(true, uint16(0), step3(0, 0, 0))
	f.Add(false, uint16(0), hs)
	f.Add(false, uint16(0), fp.a.pub[:])
	f.Add(false, uint16(0), make([]byte, 200))
	f.Fuzz(func(t *testing.T, structured bool, pad uint16, body []byte) {
		script := body
		if structured {
			script = fp.initiatorStream(int(pad)%(maxPad+20), body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		res, err := accept(ctx, newScriptConn(script), true, oneKey(fp.skey), PreferRC4, config{priv: fp.privB})
		if err != nil {
			return
		}
		got, _ := io.ReadAll(res.Conn)
		if len(got) > len(script) {
			t.Fatalf("read back %d bytes from a %d-byte stream", len(got), len(script))
		}
		if res.Encrypted && (res.SKey != fp.skey || !validMethod(res.Method, CryptoPlain|CryptoRC4)) {
			t.Fatalf("result %+v", res)
		}
	})
}

func FuzzInitiate(f *testing.F) {
	fp := newFuzzPeers(f)
	step4 := func(sel uint32, padD int) []byte {
		b := binary.BigEndian.AppendUint32(make([]byte, vcLen), sel)
		b = binary.BigEndian.AppendUint16(b, uint16(padD))
		return append(b, make([]byte, min(padD, maxPad))...)
	}
	f.Add(true, uint16(0), append(step4(CryptoRC4, 0), "payload"...))
	f.Add(true, uint16(512), step4(CryptoPlain, 512))
	f.Add(true, uint16(7), step4(CryptoRC4, 513))
	f.Add(true, uint16(7), step4(4, 0))
	f.Add(false, uint16(0), fp.b.pub[:])
	f.Add(false, uint16(0), make([]byte, 700))
	f.Fuzz(func(t *testing.T, structured bool, pad uint16, body []byte) {
		script := body
		if structured {
			script = fp.responderStream(int(pad)%(maxPad+20), body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, m, err := initiate(ctx, newScriptConn(script), fp.skey, CryptoPlain|CryptoRC4, []byte("ia"), config{priv: fp.privA})
		if err != nil {
			return
		}
		if !validMethod(m, CryptoPlain|CryptoRC4) {
			t.Fatalf("method %#x", m)
		}
		got, _ := io.ReadAll(c)
		if len(got) > len(script) {
			t.Fatalf("read back %d bytes from a %d-byte stream", len(got), len(script))
		}
	})
}
