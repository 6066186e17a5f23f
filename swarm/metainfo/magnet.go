package metainfo

import (
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Limits on what ParseMagnet accepts and keeps.
const (
	maxMagnetLen      = 64 << 10 // bytes of a whole magnet link
	maxMagnetTrackers = 100      // tr values kept; more are dropped
	maxMagnetPeers    = 100      // x.pe values kept in Peers, and separately in PeerHosts
)

// Magnet is a parsed magnet link (BEP 9, v1 only).
type Magnet struct {
	InfoHash  [20]byte
	Name      string           // dn, "" if absent; a display name only, not validated as a path
	Trackers  []string         // tr=, in order, de-duplicated, at most 100 kept
	Peers     []netip.AddrPort // x.pe=HOST:PORT with an IP literal host (IPv6 in brackets); de-duplicated, at most 100 kept
	PeerHosts []string         // x.pe values with a host name, as HOST:PORT for the caller to resolve; de-duplicated, at most 100 kept
}

// IsMagnet reports whether s looks like a magnet link: it starts with
// "magnet:?", the scheme in any case.
func IsMagnet(s string) bool {
	return len(s) >= 8 && strings.EqualFold(s[:7], "magnet:") && s[7] == '?'
}

// ParseMagnet parses a BEP 9 magnet link,
// "magnet:?xt=urn:btih:<40 hex or 32 base32>&dn=..&tr=..&x.pe=..".
//
// Parameters may repeat and may be numbered (xt.1, tr.2); unknown ones are
// ignored. Exactly one v1 info-hash must be given, possibly more than once
// and in either encoding; a link that also has a v2 urn:btmh hash is
// accepted and uses the v1 hash. The first non-empty dn is the Name. Empty
// tr and x.pe values are skipped; an x.pe that is not HOST:PORT is an
// error. The link is at most 64 KiB and holds no control characters.
func ParseMagnet(uri string) (*Magnet, error) {
	m, err := parseMagnet(uri)
	if err != nil {
		return nil, fmt.Errorf("metainfo: magnet: %w", err)
	}
	return m, nil
}

func parseMagnet(uri string) (*Magnet, error) {
	if len(uri) > maxMagnetLen {
		return nil, fmt.Errorf("link is %d bytes, more than %d", len(uri), maxMagnetLen)
	}
	if !IsMagnet(uri) {
		return nil, fmt.Errorf("%s is not a magnet URI (want magnet:?xt=urn:btih:...)", clip(uri))
	}
	for i := range len(uri) {
		if c := uri[i]; c < 0x20 || c == 0x7f {
			return nil, fmt.Errorf("control character %q at offset %d", c, i)
		}
	}
	m := &Magnet{}
	var sawXT, sawV1, sawV2 bool
	for param := range strings.SplitSeq(uri[len("magnet:?"):], "&") {
		key, raw, _ := strings.Cut(param, "=")
		key = baseKey(key)
		switch key {
		case "xt", "dn", "tr", "x.pe":
		default:
			continue
		}
		v, err := url.QueryUnescape(raw)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", key, clip(raw), err)
		}
		switch key {
		case "xt":
			sawXT = true
			if hasPrefixFold(v, "urn:btmh:") {
				sawV2 = true
				continue
			}
			h, ok, err := parseBTIH(v)
			switch {
			case err != nil:
				return nil, err
			case !ok:
				continue
			case sawV1 && h != m.InfoHash:
				return nil, fmt.Errorf("two info-hashes, %x and %x: links to several torrents are not supported", m.InfoHash, h)
			}
			sawV1, m.InfoHash = true, h
		case "dn":
			if m.Name == "" {
				m.Name = v
			}
		case "tr":
			m.Trackers = addUnique(m.Trackers, v, maxMagnetTrackers)
		case "x.pe":
			if v == "" {
				continue
			}
			ap, host, err := parsePeer(v)
			if err != nil {
				return nil, fmt.Errorf("x.pe %s: %w", clip(v), err)
			}
			if host != "" {
				m.PeerHosts = addUnique(m.PeerHosts, host, maxMagnetPeers)
			} else {
				m.Peers = addUnique(m.Peers, ap, maxMagnetPeers)
			}
		}
	}
	switch {
	case sawV1:
		return m, nil
	case sawV2:
		return nil, errors.New("v2-only magnet links (urn:btmh) are not supported yet")
	case sawXT:
		return nil, errors.New("no BitTorrent info-hash (xt=urn:btih:...)")
	}
	return nil, errors.New("no xt parameter")
}

// parseBTIH decodes xt=urn:btih:<hash>. ok is false for other URNs.
func parseBTIH(v string) (h [20]byte, ok bool, err error) {
	if !hasPrefixFold(v, "urn:btih:") {
		return h, false, nil
	}
	s := v[len("urn:btih:"):]
	switch len(s) {
	case 40:
		if _, err := hex.Decode(h[:], []byte(s)); err != nil {
			return h, false, fmt.Errorf("xt %s: info-hash is not hexadecimal", clip(v))
		}
	case 32:
		// base32 skips CR and LF; the length check catches them.
		if n, err := base32.StdEncoding.Decode(h[:], []byte(strings.ToUpper(s))); err != nil || n != len(h) {
			return h, false, fmt.Errorf("xt %s: info-hash is not base32", clip(v))
		}
	default:
		return h, false, fmt.Errorf("xt %s: info-hash has %d characters, want 40 (hex) or 32 (base32)", clip(v), len(s))
	}
	return h, true, nil
}

// String returns the magnet link: xt (hex, lower case), dn, each tr, then
// each x.pe of Peers and of PeerHosts, values query-escaped.
func (m *Magnet) String() string {
	var b strings.Builder
	b.WriteString("magnet:?xt=urn:btih:")
	b.WriteString(hex.EncodeToString(m.InfoHash[:]))
	if m.Name != "" {
		b.WriteString("&dn=" + url.QueryEscape(m.Name))
	}
	for _, u := range m.Trackers {
		b.WriteString("&tr=" + url.QueryEscape(u))
	}
	for _, p := range m.Peers {
		b.WriteString("&x.pe=" + url.QueryEscape(p.String()))
	}
	for _, h := range m.PeerHosts {
		b.WriteString("&x.pe=" + url.QueryEscape(h))
	}
	return b.String()
}

// Magnet returns the magnet link for m: its info-hash, its name and the
// trackers of Trackers() flattened in tier order, at most 100 like a parsed
// link.
func (m *MetaInfo) Magnet() *Magnet {
	mg := &Magnet{InfoHash: m.InfoHash, Name: m.Info.Name}
	for _, tier := range m.Trackers() {
		for _, u := range tier {
			mg.Trackers = addUnique(mg.Trackers, u, maxMagnetTrackers)
		}
	}
	return mg
}

// addUnique appends v to s unless it is the zero value, already present,
// or s already holds limit elements.
func addUnique[T comparable](s []T, v T, limit int) []T {
	var zero T
	if v == zero || len(s) >= limit || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// baseKey strips a numbered form's suffix: "tr.1" is "tr", "x.pe.2" is
// "x.pe".
func baseKey(k string) string {
	i := strings.LastIndexByte(k, '.')
	if i < 0 || i == len(k)-1 {
		return k
	}
	for _, c := range k[i+1:] {
		if c < '0' || c > '9' {
			return k
		}
	}
	return k[:i]
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// clip quotes s for an error message, shortened if long.
func clip(s string) string {
	const limit = 80
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}
