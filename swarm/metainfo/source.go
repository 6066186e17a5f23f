package metainfo

import (
	"bytes"
	"fmt"
)

// LoadSource reads a torrent source that is a path to a file: a .torrent,
// or a file whose content, after trimming white space, is a magnet link of
// at most 64 KiB. It returns exactly one of (mi, nil) or (nil, mg) when
// the error is nil. A magnet link given directly, not in a file, is for
// the caller to pass to ParseMagnet (see IsMagnet).
func LoadSource(path string) (*MetaInfo, *Magnet, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	if text := bytes.TrimSpace(data); IsMagnet(string(text[:min(len(text), 8)])) {
		mg, err := parseMagnet(string(text))
		if err != nil {
			return nil, nil, fmt.Errorf("metainfo: %s: magnet: %w", path, err)
		}
		return nil, mg, nil
	}
	m, err := parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("metainfo: %s: %w", path, err)
	}
	return m, nil, nil
}
