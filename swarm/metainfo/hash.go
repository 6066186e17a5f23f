package metainfo

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"os"
)

// autoPieceLength picks a power of two between 16 KiB and 16 MiB giving
// at most about targetPieces pieces.
func autoPieceLength(total int64) int64 {
	pl := int64(minAutoPieceLength)
	for pl < maxAutoPieceLength && (total+pl-1)/pl > targetPieces {
		pl *= 2
	}
	return pl
}

// hashFiles hashes the concatenation of files in pieces of pl bytes and
// returns the piece hashes concatenated. ctx is checked between pieces.
func hashFiles(ctx context.Context, files []buildFile, pl, total int64) (string, error) {
	n := (total + pl - 1) / pl
	out := make([]byte, 0, n*20)
	buf := make([]byte, min(pl, total))
	fill := 0
	flush := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		sum := sha1.Sum(buf[:fill])
		out = append(out, sum[:]...)
		fill = 0
		return nil
	}
	for _, bf := range files {
		if err := hashFile(bf, buf, &fill, flush); err != nil {
			return "", err
		}
	}
	if fill > 0 {
		if err := flush(); err != nil {
			return "", err
		}
	}
	return string(out), nil
}

// hashFile appends the file's bytes to buf[*fill:], calling flush each
// time buf is full. The file must still have the size it was listed with.
func hashFile(bf buildFile, buf []byte, fill *int, flush func() error) error {
	f, err := os.Open(bf.abs)
	if err != nil {
		return err
	}
	defer f.Close()
	left := bf.size
	for left > 0 {
		k := int(min(int64(len(buf)-*fill), left))
		if _, err := io.ReadFull(f, buf[*fill:*fill+k]); err != nil {
			return fmt.Errorf("%s: file changed while hashing: %w", bf.abs, err)
		}
		*fill += k
		left -= int64(k)
		if *fill == len(buf) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	// A file that grew would make the torrent silently incomplete.
	if n, _ := f.Read(buf[*fill : *fill+min(1, len(buf)-*fill)]); n > 0 {
		return fmt.Errorf("%s: file changed while hashing: larger than %d bytes", bf.abs, bf.size)
	}
	return nil
}
