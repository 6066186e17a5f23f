package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/btfs/btfs/swarm/tracker/trackertest"
)

// cmdTracker runs the small in-memory HTTP tracker that the demo and the
// integration tests use for local swarms.
func cmdTracker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tracker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "`ADDR` to serve on")
	interval := fs.Duration("interval", 30*time.Second, "announce interval handed to peers")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: trackertest.New(*interval), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "tracker listening on http://%s/announce\n", ln.Addr())
	errC := make(chan error, 1)
	go func() { errC <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errC:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
