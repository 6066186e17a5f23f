package disk

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"os"
)

// Bits are in BitTorrent order: piece 0 is the high bit of byte 0.
func hasBit(b []byte, i int) bool { return b[i/8]&(0x80>>(i%8)) != 0 }
func setBit(b []byte, i int)      { b[i/8] |= 0x80 >> (i % 8) }
func clearBit(b []byte, i int)    { b[i/8] &^= 0x80 >> (i % 8) }

func countBits(b []byte) int {
	n := 0
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return n
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// pieceCRC is the CRC-32C of a piece's bytes (hardware accelerated).
func pieceCRC(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

// pieceSums is what the `pieces` file records: which pieces are held and,
// for those whose CRC-32C is known, that CRC (index = piece). known is a
// subset of held; crcs of unknown pieces are zero.
type pieceSums struct {
	held  []byte
	known []byte
	crcs  []uint32
}

func newPieceSums(n int) pieceSums {
	return pieceSums{held: make([]byte, (n+7)/8), known: make([]byte, (n+7)/8), crcs: make([]uint32, n)}
}

// encodeBitmap returns the `pieces` file (format 2): magic, piece count
// (big-endian uint32), the held bits, the CRC-known bits, one big-endian
// CRC-32C per piece, and a CRC-32C of everything before it. One file, one
// atomic rename: bits and CRCs can never be out of step.
func encodeBitmap(s pieceSums, n int) []byte {
	nb := (n + 7) / 8
	b := make([]byte, 0, len(bitmapMagic)+4+2*nb+4*n+4)
	b = append(b, bitmapMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, s.held...)
	b = append(b, s.known...)
	for _, c := range s.crcs {
		b = binary.BigEndian.AppendUint32(b, c)
	}
	return binary.BigEndian.AppendUint32(b, pieceCRC(b))
}

// decodeBitmap parses a `pieces` file for a torrent of n pieces: format 2,
// or format 1 (held bits only; every CRC unknown, so those pieces are
// SHA-1-checked on their first read and get their CRC then).
func decodeBitmap(b []byte, n int) (pieceSums, error) {
	nb := (n + 7) / 8
	var s pieceSums
	want := len(bitmapMagic) + 4 + 2*nb + 4*n + 4
	v1 := len(b) >= len(bitmapMagicV1) && string(b[:len(bitmapMagicV1)]) == bitmapMagicV1
	if v1 {
		want = len(bitmapMagicV1) + 4 + nb + 4
	}
	if len(b) != want {
		return s, fmt.Errorf("bitmap is %d bytes, want %d", len(b), want)
	}
	if !v1 && string(b[:len(bitmapMagic)]) != bitmapMagic {
		return s, errors.New("bitmap: bad magic")
	}
	if got := binary.BigEndian.Uint32(b[len(bitmapMagic):]); got != uint32(n) {
		return s, fmt.Errorf("bitmap: %d pieces, want %d", got, n)
	}
	body := b[:len(b)-4]
	if pieceCRC(body) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return s, errors.New("bitmap: checksum mismatch")
	}
	rest := body[len(bitmapMagic)+4:]
	s = newPieceSums(n)
	copy(s.held, rest[:nb])
	if !v1 {
		copy(s.known, rest[nb:2*nb])
		for i := range s.crcs {
			s.crcs[i] = binary.BigEndian.Uint32(rest[2*nb+4*i:])
		}
	}
	if n%8 != 0 && (s.held[nb-1]|s.known[nb-1])&(0xff>>(n%8)) != 0 {
		return s, errors.New("bitmap: spare bits set")
	}
	for i, k := range s.known {
		if k&^s.held[i] != 0 {
			return s, errors.New("bitmap: a CRC for a piece not held")
		}
	}
	for i, c := range s.crcs {
		if c != 0 && !hasBit(s.known, i) {
			return s, errors.New("bitmap: a CRC marked unknown")
		}
	}
	return s, nil
}

// metaFile is the JSON in a torrent's `meta` file.
type metaFile struct {
	Version     int    `json:"version"`
	Name        string `json:"name"`
	PieceLength int64  `json:"piece_length"`
	Length      int64  `json:"length"`
	NumPieces   int    `json:"num_pieces"`
	LastUsed    int64  `json:"last_used"` // unix seconds
}

func numPieces(pieceLen, length int64) (int, error) {
	if pieceLen <= 0 || length <= 0 {
		return 0, fmt.Errorf("piece length %d, length %d: must be positive", pieceLen, length)
	}
	n := length / pieceLen // not (length+pieceLen-1)/pieceLen: that overflows
	if length%pieceLen != 0 {
		n++
	}
	if n > maxPieceCount {
		return 0, fmt.Errorf("%d pieces: too many", n)
	}
	return int(n), nil
}

func readMeta(path string) (metaFile, error) {
	var m metaFile
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetaSize+1))
	if err != nil {
		return m, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxMetaSize {
		return m, fmt.Errorf("%s: too large", path)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	if m.Version != metaVersion {
		return m, fmt.Errorf("%s: version %d", path, m.Version)
	}
	n, err := numPieces(m.PieceLength, m.Length)
	if err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	if n != m.NumPieces {
		return m, fmt.Errorf("%s: %d pieces, want %d", path, m.NumPieces, n)
	}
	return m, nil
}

func (s *store) metaLocked() metaFile {
	return metaFile{
		Version: metaVersion, Name: s.name, PieceLength: s.pieceLen, Length: s.length,
		NumPieces: s.numPieces, LastUsed: s.lastUsed.Unix(),
	}
}
