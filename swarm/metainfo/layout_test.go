package metainfo

import (
	"math"
	"testing"
)

func TestLayout(t *testing.T) {
	// 5 pieces of 64 KiB; the last holds 40000 bytes: 2 full blocks and one of 7232.
	l := Layout{Length: 4*65536 + 40000, PieceLength: 65536, NumPieces: 5}
	t.Run("pieces", func(t *testing.T) {
		tests := []struct {
			i            int
			off          int64
			size, blocks int
			lastBlock    int
		}{
			{0, 0, 65536, 4, BlockSize},
			{3, 3 * 65536, 65536, 4, BlockSize},
			{4, 4 * 65536, 40000, 3, 40000 - 2*BlockSize},
		}
		for _, tt := range tests {
			if got := l.PieceOffset(tt.i); got != tt.off {
				t.Errorf("PieceOffset(%d) = %d, want %d", tt.i, got, tt.off)
			}
			if got := l.PieceSize(tt.i); got != tt.size {
				t.Errorf("PieceSize(%d) = %d, want %d", tt.i, got, tt.size)
			}
			if got := l.NumBlocks(tt.i); got != tt.blocks {
				t.Errorf("NumBlocks(%d) = %d, want %d", tt.i, got, tt.blocks)
			}
			if got := l.BlockSize(tt.i, tt.blocks-1); got != tt.lastBlock {
				t.Errorf("BlockSize(%d, %d) = %d, want %d", tt.i, tt.blocks-1, got, tt.lastBlock)
			}
			if got := l.BlockSize(tt.i, 0); got != BlockSize {
				t.Errorf("BlockSize(%d, 0) = %d", tt.i, got)
			}
		}
	})
	t.Run("sums", func(t *testing.T) {
		var total int64
		for i := range l.NumPieces {
			var piece int
			for b := range l.NumBlocks(i) {
				piece += l.BlockSize(i, b)
			}
			if piece != l.PieceSize(i) {
				t.Errorf("piece %d: blocks sum to %d, want %d", i, piece, l.PieceSize(i))
			}
			total += int64(piece)
		}
		if total != l.Length {
			t.Errorf("pieces sum to %d, want %d", total, l.Length)
		}
	})
	t.Run("exact multiple", func(t *testing.T) {
		e := Layout{Length: 2 * 32768, PieceLength: 32768, NumPieces: 2}
		if e.PieceSize(1) != 32768 || e.NumBlocks(1) != 2 || e.BlockSize(1, 1) != BlockSize {
			t.Errorf("last piece %d bytes, %d blocks, last block %d", e.PieceSize(1), e.NumBlocks(1), e.BlockSize(1, 1))
		}
		tiny := Layout{Length: 1, PieceLength: 32768, NumPieces: 1}
		if tiny.PieceSize(0) != 1 || tiny.NumBlocks(0) != 1 || tiny.BlockSize(0, 0) != 1 {
			t.Errorf("1-byte torrent: %d bytes, %d blocks, block %d", tiny.PieceSize(0), tiny.NumBlocks(0), tiny.BlockSize(0, 0))
		}
	})
	t.Run("PieceAt", func(t *testing.T) {
		for _, tt := range []struct {
			off  int64
			want int
		}{{0, 0}, {65535, 0}, {65536, 1}, {4 * 65536, 4}, {l.Length - 1, 4}} {
			if got := l.PieceAt(tt.off); got != tt.want {
				t.Errorf("PieceAt(%d) = %d, want %d", tt.off, got, tt.want)
			}
		}
		if got := (Layout{}).PieceAt(5); got != 0 {
			t.Errorf("zero Layout PieceAt = %d", got)
		}
	})
	t.Run("PieceRange", func(t *testing.T) {
		for _, tt := range []struct {
			name       string
			off, n     int64
			first, end int
		}{
			{"first byte", 0, 1, 0, 1},
			{"whole first piece", 0, 65536, 0, 1},
			{"one past piece", 0, 65537, 0, 2},
			{"straddle", 65535, 2, 0, 2},
			{"piece boundary start", 65536, 1, 1, 2},
			{"everything", 0, l.Length, 0, 5},
			{"past the end clipped", 3 * 65536, 1 << 40, 3, 5},
			{"last byte", l.Length - 1, 1, 4, 5},
			{"zero length", 70000, 0, 1, 1},
			{"negative length", 70000, -5, 1, 1},
			{"at end", l.Length, 10, 5, 5},
			{"beyond end", l.Length + 100000, 10, 5, 5},
			{"huge n no overflow", 1, math.MaxInt64, 0, 5},
			{"negative offset", -10, 20, 0, 1},
		} {
			first, end := l.PieceRange(tt.off, tt.n)
			if first != tt.first || end != tt.end {
				t.Errorf("%s: PieceRange(%d, %d) = %d, %d; want %d, %d", tt.name, tt.off, tt.n, first, end, tt.first, tt.end)
			}
		}
	})
	t.Run("ValidBlock", func(t *testing.T) {
		for _, tt := range []struct {
			name                 string
			index, begin, length uint32
			want                 bool
		}{
			{"first block", 0, 0, BlockSize, true},
			{"whole piece 64K", 0, 0, 65536, true},
			{"odd offset", 1, 1, 100, true},
			{"last block of last piece", 4, 2 * BlockSize, 40000 - 2*BlockSize, true},
			{"past last piece end", 4, 2 * BlockSize, BlockSize, false},
			{"past piece end", 0, 65536 - 10, 11, false},
			{"zero length", 0, 0, 0, false},
			{"index out of range", 5, 0, 1, false},
			{"index max", math.MaxUint32, 0, 1, false},
			{"begin overflow", 0, math.MaxUint32, 2, false},
			{"length over 128K", 0, 0, 8*BlockSize + 1, false},
		} {
			if got := l.ValidBlock(tt.index, tt.begin, tt.length); got != tt.want {
				t.Errorf("%s: ValidBlock(%d, %d, %d) = %v, want %v", tt.name, tt.index, tt.begin, tt.length, got, tt.want)
			}
		}
		big := Layout{Length: 1 << 20, PieceLength: 1 << 20, NumPieces: 1}
		if !big.ValidBlock(0, 0, 8*BlockSize) || big.ValidBlock(0, 0, 8*BlockSize+1) {
			t.Error("128 KiB limit not applied at exactly 128 KiB")
		}
	})
}

func TestInfoLayout(t *testing.T) {
	m, err := Parse(torrentWith(singleInfo()))
	if err != nil {
		t.Fatal(err)
	}
	want := Layout{Length: 40000, PieceLength: 16384, NumPieces: 3}
	if got := m.Info.Layout(); got != want {
		t.Errorf("Layout() = %+v, want %+v", got, want)
	}
}

func BenchmarkPieceRange(b *testing.B) {
	l := Layout{Length: 1 << 40, PieceLength: 1 << 20, NumPieces: 1 << 20}
	for i := 0; b.Loop(); i++ {
		l.PieceRange(int64(i)*4096, 128<<10)
	}
}
