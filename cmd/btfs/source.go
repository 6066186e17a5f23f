package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/btfs/btfs/swarm/metainfo"
)

// loadTorrent reads a .torrent from a path or an http(s):// URL.
func loadTorrent(ctx context.Context, src string) (*metainfo.MetaInfo, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		return metainfo.Load(src)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("torrent URL %s: %w", src, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch torrent: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch torrent %s: http status %s", src, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, metainfo.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch torrent %s: %w", src, err)
	}
	if len(b) > metainfo.MaxFileSize {
		return nil, fmt.Errorf("fetch torrent %s: larger than %d bytes", src, metainfo.MaxFileSize)
	}
	mi, err := metainfo.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("torrent from %s: %w", src, err)
	}
	return mi, nil
}
