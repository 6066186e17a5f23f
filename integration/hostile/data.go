package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/btfs/btfs/swarm/metainfo"
)

// dataSource reads genuine blocks from a torrent's content on disk, laid
// out as `btfs seed` expects it: DIR/NAME for a single file, DIR/NAME/PATH
// for each file of a multi-file torrent.
type dataSource struct {
	files []dataFile
}

type dataFile struct {
	f      *os.File // nil: a padding file (zeros)
	offset int64    // of its first byte in the torrent
	length int64
}

func openData(mi *metainfo.MetaInfo, dir string) (*dataSource, error) {
	d := &dataSource{}
	for _, f := range mi.Info.Files {
		df := dataFile{offset: f.Offset, length: f.Length}
		if !f.Padding {
			p := filepath.Join(dir, mi.Info.Name)
			if mi.Info.MultiFile {
				p = filepath.Join(append([]string{p}, f.Path...)...)
			}
			fh, err := os.Open(p)
			if err != nil {
				d.close()
				return nil, fmt.Errorf("-data: %w", err)
			}
			df.f = fh
		}
		d.files = append(d.files, df)
	}
	return d, nil
}

func (d *dataSource) close() {
	for _, f := range d.files {
		if f.f != nil {
			f.f.Close()
		}
	}
}

// readBlock fills p with the torrent's bytes at piece index, offset begin.
func (d *dataSource) readBlock(l metainfo.Layout, index, begin uint32, p []byte) error {
	off := l.PieceOffset(int(index)) + int64(begin)
	for _, f := range d.files {
		if len(p) == 0 {
			return nil
		}
		if off >= f.offset+f.length || off+int64(len(p)) <= f.offset {
			continue
		}
		n := min(int64(len(p)), f.offset+f.length-off)
		if f.f == nil {
			clear(p[:n])
		} else if _, err := f.f.ReadAt(p[:n], off-f.offset); err != nil {
			return fmt.Errorf("-data: piece %d at %d: %w", index, begin, err)
		}
		p, off = p[n:], off+n
	}
	if len(p) != 0 {
		return fmt.Errorf("-data: piece %d at %d: past the end of the torrent", index, begin)
	}
	return nil
}
