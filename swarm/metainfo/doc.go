// Package metainfo parses, validates, encodes and builds BitTorrent
// metainfo (.torrent) files as described by BEP 3, with the tracker tiers
// of BEP 12, the private flag of BEP 27 and the padding-file attribute of
// BEP 47.
//
// Parse is strict: it uses its own small bencode decoder (bounded depth,
// canonical integers, no duplicate dictionary keys, no trailing data) so
// that hostile input can never make it panic or allocate more than a small
// multiple of the input size. The info-hash is the SHA-1 of the info
// dictionary's bytes exactly as they appear in the input.
//
// All piece, block and byte-range arithmetic lives in Layout, whose inputs
// are validated once, at parse time.
//
// ParseMagnet reads BEP 9 magnet links (v1 urn:btih hashes, tr trackers,
// x.pe peers; v2-only links are refused), and FromInfo turns the info
// dictionary then fetched from peers into a MetaInfo; LoadSource reads a
// file holding either a .torrent or a magnet link.
package metainfo
