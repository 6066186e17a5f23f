package metainfo

// maxRequest is the largest block a peer may request or send (128 KiB).
const maxRequest = 8 * BlockSize

// Layout holds all piece, block and byte-range arithmetic of a torrent.
// Its fields are validated at parse time, so methods assume valid piece
// and block indices; a zero PieceLength yields zeros instead of panicking.
type Layout struct {
	Length      int64
	PieceLength int64
	NumPieces   int
}

// PieceOffset returns the offset of piece i's first byte.
func (l Layout) PieceOffset(i int) int64 { return int64(i) * l.PieceLength }

// PieceSize returns the size of piece i; the last piece may be shorter.
func (l Layout) PieceSize(i int) int {
	if i == l.NumPieces-1 {
		return int(l.Length - l.PieceOffset(i))
	}
	return int(l.PieceLength)
}

// NumBlocks returns how many blocks of BlockSize piece i has.
func (l Layout) NumBlocks(i int) int {
	return (l.PieceSize(i) + BlockSize - 1) / BlockSize
}

// BlockSize returns the size of block b of piece i; the last block of a
// piece may be shorter.
func (l Layout) BlockSize(i, b int) int {
	return min(BlockSize, l.PieceSize(i)-b*BlockSize)
}

// PieceAt returns the index of the piece containing byte off.
func (l Layout) PieceAt(off int64) int {
	if l.PieceLength <= 0 {
		return 0
	}
	return int(off / l.PieceLength)
}

// PieceRange returns the pieces overlapping [off, off+n) as the half-open
// range [first, end). The range is clipped to the torrent; n <= 0 gives
// first == end == PieceAt(off), and an offset at or past the end gives
// first == end == NumPieces.
func (l Layout) PieceRange(off, n int64) (first, end int) {
	off = max(off, 0)
	if off >= l.Length {
		return l.NumPieces, l.NumPieces
	}
	if n <= 0 {
		return l.PieceAt(off), l.PieceAt(off)
	}
	last := l.Length
	if n < l.Length-off {
		last = off + n
	}
	return l.PieceAt(off), l.PieceAt(last-1) + 1
}

// ValidBlock reports whether a peer's (index, begin, length) lies within
// piece index, with 0 < length <= 128 KiB. It validates requests and
// piece messages from the wire and never overflows.
func (l Layout) ValidBlock(index, begin, length uint32) bool {
	if int64(index) >= int64(l.NumPieces) || length == 0 || length > maxRequest {
		return false
	}
	return uint64(begin)+uint64(length) <= uint64(l.PieceSize(int(index)))
}
