package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/btfs/btfs/swarm"
)

// readBuckets are the upper bounds (seconds) of the read latency histogram.
var readBuckets = [...]float64{0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30}

// metrics counts what the Prometheus endpoint reports about reads.
type metrics struct {
	buckets   [len(readBuckets) + 1]atomic.Int64 // last: +Inf
	sumMicros atomic.Int64
	reads     atomic.Int64
	readErrs  atomic.Int64
}

func (m *metrics) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(readBuckets) && s > readBuckets[i] {
		i++
	}
	m.buckets[i].Add(1)
	m.sumMicros.Add(d.Microseconds())
	m.reads.Add(1)
}

// measuredReader times an engine reader's reads for the metrics.
type measuredReader struct {
	r *swarm.Reader
	m *metrics
}

func (mr measuredReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	start := time.Now()
	n, err := mr.r.ReadAt(ctx, p, off)
	mr.m.observe(time.Since(start))
	if err != nil {
		mr.m.readErrs.Add(1)
	}
	return n, err
}

func (mr measuredReader) Close() error { return mr.r.Close() }

// serveMetrics serves /metrics (Prometheus text format) and /debug/pprof/
// on addr until ctx is done.
func serveMetrics(ctx context.Context, addr string, t *swarm.Torrent, m *metrics, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		writeMetrics(w, t, m)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}

func writeMetrics(w http.ResponseWriter, t *swarm.Torrent, m *metrics) {
	s := t.Stats()
	gauge := func(name, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %v\n", name, help, name, name, v)
	}
	counter := func(name, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %v\n", name, help, name, name, v)
	}
	counter("btfs_downloaded_bytes_total", "Verified payload bytes downloaded.", s.Downloaded)
	counter("btfs_uploaded_bytes_total", "Payload bytes uploaded to peers.", s.Uploaded)
	counter("btfs_wasted_bytes_total", "Block bytes received and thrown away (duplicates, late after a cancel or timeout, failed hash checks).", s.Wasted)
	counter("btfs_duplicate_requests_total", "Second requests for late blocks under blocked reads.", s.DupRequests)
	gauge("btfs_peers", "Connected peers.", s.Peers)
	gauge("btfs_pieces_verified", "Pieces verified and held.", s.PiecesVerified)
	gauge("btfs_pieces", "Pieces in the torrent.", s.Pieces)
	gauge("btfs_left_bytes", "Bytes not yet held.", s.Left)
	counter("btfs_read_errors_total", "Reads that failed (cancelled, unmounting, engine closed).", m.readErrs.Load())
	fmt.Fprintf(w, "# HELP btfs_read_seconds Latency of reads through the mount.\n# TYPE btfs_read_seconds histogram\n")
	var cum int64
	for i, le := range readBuckets {
		cum += m.buckets[i].Load()
		fmt.Fprintf(w, "btfs_read_seconds_bucket{le=\"%g\"} %d\n", le, cum)
	}
	cum += m.buckets[len(readBuckets)].Load()
	fmt.Fprintf(w, "btfs_read_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(w, "btfs_read_seconds_sum %g\nbtfs_read_seconds_count %d\n", float64(m.sumMicros.Load())/1e6, m.reads.Load())
}
