package disk

import (
	"bytes"
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

// encodeBitmap returns the `pieces` file: magic, piece count (big-endian
// uint32), the bits, and a CRC-32C of everything before it.
func encodeBitmap(held []byte, n int) []byte {
	b := make([]byte, 0, len(bitmapMagic)+4+len(held)+4)
	b = append(b, bitmapMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, held...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// decodeBitmap parses a `pieces` file for a torrent of n pieces.
func decodeBitmap(b []byte, n int) ([]byte, error) {
	nb := (n + 7) / 8
	if len(b) != len(bitmapMagic)+4+nb+4 {
		return nil, fmt.Errorf("bitmap is %d bytes, want %d", len(b), len(bitmapMagic)+4+nb+4)
	}
	if string(b[:len(bitmapMagic)]) != bitmapMagic {
		return nil, errors.New("bitmap: bad magic")
	}
	if got := binary.BigEndian.Uint32(b[len(bitmapMagic):]); got != uint32(n) {
		return nil, fmt.Errorf("bitmap: %d pieces, want %d", got, n)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, errors.New("bitmap: checksum mismatch")
	}
	bm := bytes.Clone(body[len(bitmapMagic)+4:])
	if n%8 != 0 && bm[nb-1]&(0xff>>(n%8)) != 0 {
		return nil, errors.New("bitmap: spare bits set")
	}
	return bm, nil
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
	n := (length + pieceLen - 1) / pieceLen
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
