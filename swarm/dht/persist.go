package dht

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Saved tables are text: a header line, then one IP:PORT per line, an
// IPv6 address in brackets ([2001:db8::1]:6881). Files written before
// the node spoke IPv6 hold only IPv4 lines and load the same.
const (
	nodesHeader   = "# btfs dht nodes v1"
	maxLoadNodes  = 1000
	maxNodesBytes = 64 << 10 // LoadNodes reads no more of the file
)

// SaveNodes writes nodes to path atomically (a temporary file in the same
// directory, synced, then renamed over path).
func SaveNodes(path string, nodes []netip.AddrPort) (err error) {
	var b strings.Builder
	b.WriteString(nodesHeader + "\n")
	for _, a := range nodes {
		if a.IsValid() && a.Port() != 0 && a.Addr().Zone() == "" {
			b.WriteString(a.String() + "\n")
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("dht: save nodes: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.WriteString(b.String()); err != nil {
		return fmt.Errorf("dht: save nodes: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("dht: save nodes: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("dht: save nodes: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("dht: save nodes: %w", err)
	}
	return nil
}

// LoadNodes reads addresses saved by SaveNodes: at most 1000 of them from
// the first 64 KiB, skipping lines that do not parse. A missing file is
// not an error (nil, nil).
func LoadNodes(path string) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dht: load nodes: %w", err)
	}
	defer f.Close()
	var out []netip.AddrPort
	sc := bufio.NewScanner(io.LimitReader(f, maxNodesBytes))
	for sc.Scan() && len(out) < maxLoadNodes {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if a, err := netip.ParseAddrPort(line); err == nil && a.Port() != 0 && a.Addr().Zone() == "" {
			out = append(out, unmap(a))
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("dht: load nodes %s: %w", path, err)
	}
	return out, nil
}
