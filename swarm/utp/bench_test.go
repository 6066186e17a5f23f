package utp

import (
	"io"
	"net"
	"testing"
	"time"
)

const benchSize = 16 << 20

// benchTransfer sends benchSize bytes from w to r b.N times.
func benchTransfer(b *testing.B, w, r net.Conn) {
	data := randomBytes(1<<20, 11)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		errc := make(chan error, 1)
		go func() {
			for off := 0; off < benchSize; off += len(data) {
				if _, err := w.Write(data); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		r.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.CopyN(io.Discard, r, benchSize); err != nil {
			b.Fatalf("read: %v", err)
		}
		if err := <-errc; err != nil {
			b.Fatalf("write: %v", err)
		}
	}
}

// BenchmarkThroughput moves 16 MiB over one uTP connection on loopback.
func BenchmarkThroughput(b *testing.B) {
	x, y := newMux(b, nil, Config{}), newMux(b, nil, Config{})
	client, server := connect(b, x, y)
	benchTransfer(b, client, server)
	st := client.(*Conn).Stats()
	b.ReportMetric(float64(st.PacketsResent)/float64(max(1, st.PacketsSent)), "resent/sent")
	b.ReportMetric(float64(st.PacketsReceived)/float64(max(1, st.PacketsSent)), "acks/sent")
}

// BenchmarkThroughputTCP is the same transfer over TCP, for comparison.
func BenchmarkThroughputTCP(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	server, ok := <-accepted
	if !ok {
		b.Fatal("accept failed")
	}
	defer server.Close()
	benchTransfer(b, client, server)
}

// BenchmarkThroughputNoOffload is BenchmarkThroughput with one system call
// per datagram.
func BenchmarkThroughputNoOffload(b *testing.B) {
	x, y := newMux(b, nil, Config{NoOffload: true}), newMux(b, nil, Config{NoOffload: true})
	client, server := connect(b, x, y)
	benchTransfer(b, client, server)
}
