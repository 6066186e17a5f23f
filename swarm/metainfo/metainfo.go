package metainfo

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	zbencode "github.com/zeebo/bencode"

	"github.com/btfs/btfs/swarm/bencode"
)

// BlockSize is the size of the blocks a piece is requested in; the last
// block of a piece may be shorter.
const BlockSize = 16 * 1024

// MaxFileSize bounds the size of a .torrent accepted by Load and Parse.
const MaxFileSize = 64 << 20

// maxTrackers bounds the URLs, and separately the tiers, of announce-list.
const maxTrackers = 10000

// MetaInfo is a parsed .torrent file.
type MetaInfo struct {
	Announce     string
	AnnounceList [][]string
	CreationDate time.Time // zero if absent
	Comment      string
	CreatedBy    string
	Info         Info
	InfoHash     [20]byte // SHA-1 of the raw info bytes exactly as in the file
	InfoBytes    []byte   // the raw bencoded info dictionary
}

// Trackers returns the BEP 12 tiers: announce-list if it holds at least
// one URL, else [[announce]] if announce is set, else nil. Empty URLs,
// repeated URLs and empty tiers are dropped. The result is a fresh copy.
func (m *MetaInfo) Trackers() [][]string {
	seen := make(map[string]bool)
	var tiers [][]string
	for _, tier := range m.AnnounceList {
		var out []string
		for _, u := range tier {
			if u == "" || seen[u] {
				continue
			}
			seen[u] = true
			out = append(out, u)
		}
		if len(out) > 0 {
			tiers = append(tiers, out)
		}
	}
	if len(tiers) > 0 {
		return tiers
	}
	if m.Announce != "" {
		return [][]string{{m.Announce}}
	}
	return nil
}

// HexHash returns the info-hash as 40 lower-case hex characters.
func (m *MetaInfo) HexHash() string {
	return hex.EncodeToString(m.InfoHash[:])
}

// Encode returns a complete .torrent file: a bencoded dictionary with
// sorted keys that embeds InfoBytes verbatim, so the info-hash is kept.
func (m *MetaInfo) Encode() ([]byte, error) {
	info, err := bencode.Decode(m.InfoBytes)
	if err != nil {
		return nil, fmt.Errorf("metainfo: encode: info bytes: %w", err)
	}
	if info.Kind() != bencode.Dict {
		return nil, fmt.Errorf("metainfo: encode: info bytes: want dictionary, got %v", info.Kind())
	}
	top := map[string]any{"info": zbencode.RawMessage(m.InfoBytes)}
	if m.Announce != "" {
		top["announce"] = m.Announce
	}
	if len(m.AnnounceList) > 0 {
		top["announce-list"] = m.AnnounceList
	}
	if !m.CreationDate.IsZero() {
		top["creation date"] = m.CreationDate.Unix()
	}
	if m.Comment != "" {
		top["comment"] = m.Comment
	}
	if m.CreatedBy != "" {
		top["created by"] = m.CreatedBy
	}
	out, err := zbencode.EncodeBytes(top)
	if err != nil {
		return nil, fmt.Errorf("metainfo: encode: %w", err)
	}
	return out, nil
}

// Load reads the .torrent file at path and parses it. Files larger than
// MaxFileSize are rejected without being read in full.
func Load(path string) (*MetaInfo, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	m, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("metainfo: %s: %w", path, err)
	}
	return m, nil
}

// readFile reads at most MaxFileSize bytes of path; a larger file is an
// error, found without reading it in full.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metainfo: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("metainfo: %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("metainfo: %s: file larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// Parse decodes and strictly validates a .torrent file. It never panics.
func Parse(data []byte) (*MetaInfo, error) {
	m, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("metainfo: %w", err)
	}
	return m, nil
}

func parse(data []byte) (*MetaInfo, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("torrent is %d bytes, more than %d", len(data), MaxFileSize)
	}
	top, err := bencode.Decode(data)
	if err != nil {
		return nil, err
	}
	if top.Kind() != bencode.Dict {
		return nil, fmt.Errorf("torrent: want dictionary, got %v", top.Kind())
	}
	m := &MetaInfo{}
	if v := top.Get("announce"); v != nil {
		if v.Kind() != bencode.String {
			return nil, fmt.Errorf("announce: want string, got %v", v.Kind())
		}
		m.Announce = string(v.Bytes())
	}
	if v := top.Get("announce-list"); v != nil {
		if m.AnnounceList, err = parseAnnounceList(v); err != nil {
			return nil, err
		}
	}
	if v := top.Get("creation date"); v != nil && v.Kind() == bencode.Int {
		m.CreationDate = time.Unix(v.Int(), 0)
	}
	m.Comment = optString(top, "comment")
	m.CreatedBy = optString(top, "created by")

	iv := top.Get("info")
	if iv == nil {
		return nil, errors.New("info: missing")
	}
	if iv.Kind() != bencode.Dict {
		return nil, fmt.Errorf("info: want dictionary, got %v", iv.Kind())
	}
	if err := parseInfo(iv, &m.Info); err != nil {
		return nil, err
	}
	m.InfoBytes = append([]byte(nil), iv...)
	m.InfoHash = sha1.Sum(m.InfoBytes)
	return m, nil
}

func optString(d bencode.Value, key string) string {
	if v := d.Get(key); v != nil && v.Kind() == bencode.String {
		return string(v.Bytes())
	}
	return ""
}

func parseAnnounceList(v bencode.Value) ([][]string, error) {
	if v.Kind() != bencode.List {
		return nil, fmt.Errorf("announce-list: want list, got %v", v.Kind())
	}
	var tiers [][]string
	urls := 0
	for i, t := range v.Items() {
		if t.Kind() != bencode.List {
			return nil, fmt.Errorf("announce-list[%d]: want list, got %v", i, t.Kind())
		}
		tier := []string{}
		for j, u := range t.Items() {
			if u.Kind() != bencode.String {
				return nil, fmt.Errorf("announce-list[%d][%d]: want string, got %v", i, j, u.Kind())
			}
			if urls++; urls > maxTrackers {
				return nil, fmt.Errorf("announce-list: more than %d URLs", maxTrackers)
			}
			tier = append(tier, string(u.Bytes()))
		}
		if len(tiers) >= maxTrackers {
			return nil, fmt.Errorf("announce-list: more than %d tiers", maxTrackers)
		}
		tiers = append(tiers, tier)
	}
	return tiers, nil
}
