package metainfo

import (
	"crypto/sha1"
	"fmt"
	"slices"

	"github.com/btfs/btfs/swarm/bencode"
)

// FromInfo builds a MetaInfo from an info dictionary fetched from peers
// (BEP 9). It checks that SHA-1(infoBytes) is infoHash and validates the
// dictionary with the same strict rules as Parse applies to a .torrent's
// info. InfoBytes is a copy of infoBytes.
//
// mg may be nil; if not, its InfoHash must be infoHash, and its trackers
// become the torrent's: each in its own BEP 12 tier, in order, as
// libtorrent does for magnet links (a client tries every tracker, none
// is preferred), with Announce set to the first. mg.Name is not used: the
// info dictionary has the real name.
//
// Encode on the result gives a .torrent that Parse accepts with the same
// info-hash.
func FromInfo(infoHash [20]byte, infoBytes []byte, mg *Magnet) (*MetaInfo, error) {
	m, err := fromInfo(infoHash, infoBytes, mg)
	if err != nil {
		return nil, fmt.Errorf("metainfo: info dictionary for %x: %w", infoHash, err)
	}
	return m, nil
}

func fromInfo(infoHash [20]byte, infoBytes []byte, mg *Magnet) (*MetaInfo, error) {
	if mg != nil && mg.InfoHash != infoHash {
		return nil, fmt.Errorf("magnet link is for info-hash %x", mg.InfoHash)
	}
	if len(infoBytes) > MaxFileSize {
		return nil, fmt.Errorf("%d bytes, more than %d", len(infoBytes), MaxFileSize)
	}
	if sum := sha1.Sum(infoBytes); sum != infoHash {
		return nil, fmt.Errorf("hash mismatch: SHA-1 is %x", sum)
	}
	m := &MetaInfo{InfoHash: infoHash, InfoBytes: slices.Clone(infoBytes)}
	iv, err := bencode.Decode(m.InfoBytes)
	if err != nil {
		return nil, err
	}
	if iv.Kind() != bencode.Dict {
		return nil, fmt.Errorf("info: want dictionary, got %v", iv.Kind())
	}
	if err := parseInfo(iv, &m.Info); err != nil {
		return nil, err
	}
	if mg != nil {
		var trackers []string
		for _, u := range mg.Trackers {
			trackers = addUnique(trackers, u, maxMagnetTrackers)
		}
		for _, u := range trackers {
			m.AnnounceList = append(m.AnnounceList, []string{u})
		}
		if len(trackers) > 0 {
			m.Announce = trackers[0]
		}
	}
	return m, nil
}
