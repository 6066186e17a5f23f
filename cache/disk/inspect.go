package disk

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Inspect describes the torrents of the cache in dir without opening it:
// it takes no lock and changes nothing, so it works while a btfs process
// holds the cache. It shows what that process last committed (commits run
// every fraction of a second); Open is false for every entry, since only
// the holder knows. Torrent directories whose files cannot be read are
// left out.
func Inspect(dir string) ([]Entry, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	var out []Entry
	for _, de := range ents {
		ih, ok := parseInfoHash(de.Name())
		if !ok || !de.IsDir() {
			continue
		}
		d := filepath.Join(dir, hex.EncodeToString(ih[:]))
		m, err := readMeta(filepath.Join(d, metaName))
		if err != nil {
			continue
		}
		st := newStore(ih, d, m.PieceLength, m.Length, m.NumPieces)
		e := Entry{InfoHash: ih, Name: m.Name, NumPieces: m.NumPieces, LastUsed: time.Unix(m.LastUsed, 0)}
		b, err := os.ReadFile(st.path(piecesName))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			sums, err := decodeBitmap(b, m.NumPieces)
			if err != nil {
				continue
			}
			for i := range m.NumPieces {
				if hasBit(sums.held, i) {
					e.Pieces++
					e.Bytes += st.pieceSize(i)
				}
			}
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if r := strings.Compare(a.Name, b.Name); r != 0 {
			return r
		}
		return slices.Compare(a.InfoHash[:], b.InfoHash[:])
	})
	return out, nil
}
