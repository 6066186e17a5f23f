package mse

import (
	"context"
	"io"
	"testing"
	"time"
)

// BenchmarkRC4Stream measures the payload path: one goroutine writes
// 16 KiB+13-byte messages (a piece message) through one wrapped end of a
// loopback TCP pair, the benchmark reads them through the other.
func BenchmarkRC4Stream(b *testing.B) {
	for _, m := range []struct {
		name   string
		method uint32
	}{{"rc4", CryptoRC4}, {"plain", CryptoPlain}} {
		b.Run(m.name, func(b *testing.B) {
			skey := testKey(1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out := handshake(b, ctx, skey, CryptoPlain|CryptoRC4, nil, oneKey(skey), only(m.method), defaultConfig(), defaultConfig())
			if out.ierr != nil || out.aerr != nil {
				b.Fatalf("initiator: %v; responder: %v", out.ierr, out.aerr)
			}
			const msgLen = 16<<10 + 13
			w, r := out.iconn, out.res.Conn
			msg := make([]byte, msgLen)
			buf := make([]byte, msgLen)
			b.SetBytes(msgLen)
			b.ReportAllocs()
			done := make(chan error, 1)
			b.ResetTimer()
			go func() {
				for range b.N {
					if _, err := w.Write(msg); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for range b.N {
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
