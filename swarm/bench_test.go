package swarm

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkDownload reads a 64 MiB torrent sequentially from three
// in-process seeders over loopback, through the engine alone (no FUSE).
func BenchmarkDownload(b *testing.B) {
	fx := newFixture(b, 256*1024, nil, 64<<20)
	var peers []netip.AddrPort
	for range 3 {
		peers = append(peers, seed(b, fx, fileStorage(b, fx), TorrentOptions{NoTrackers: true}))
	}
	b.SetBytes(int64(len(fx.data)))
	b.ReportAllocs()
	for b.Loop() {
		tor := leech(b, fx, TorrentOptions{NoTrackers: true, Peers: peers})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		got := readAll(ctx, b, tor, fx, 128*1024)
		cancel()
		if !bytes.Equal(got, fx.data) {
			b.Fatal("data differs")
		}
		tor.cl.Close()
	}
}
