package metainfo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	zbencode "github.com/zeebo/bencode"
)

// Bounds for the automatic piece length.
const (
	minAutoPieceLength = 16 << 10
	maxAutoPieceLength = 16 << 20
	targetPieces       = 2000
)

// BuildOptions controls Build.
type BuildOptions struct {
	PieceLength  int64      // 0 = automatic (power of two from 16 KiB to 16 MiB, about 1000-2000 pieces)
	Trackers     [][]string // tiers; the first URL also becomes announce
	Comment      string
	CreatedBy    string // default "btfs"
	Private      bool
	CreationDate time.Time // zero = omit
}

type buildFile struct {
	abs  string
	path []string
	size int64
}

// Build makes a torrent from a single file or a directory tree. Only
// regular files are included, walked in lexical order; symbolic links
// and special files are errors; empty directories are skipped; hidden
// files are included. Name is the base name of root. Hashing checks ctx
// between pieces. The result equals what Parse returns for its Encode.
func Build(ctx context.Context, root string, opts BuildOptions) (*MetaInfo, error) {
	m, err := build(ctx, root, opts)
	if err != nil {
		return nil, fmt.Errorf("metainfo: build %s: %w", root, err)
	}
	return m, nil
}

func build(ctx context.Context, root string, opts BuildOptions) (*MetaInfo, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(abs)
	if err := checkComponent(name); err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	st, err := os.Lstat(abs)
	if err != nil {
		return nil, err
	}
	var files []buildFile
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return nil, errors.New("symbolic links are not supported")
	case st.Mode().IsRegular():
		files = []buildFile{{abs: abs, path: []string{name}, size: st.Size()}}
	case st.IsDir():
		if files, err = walk(abs); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("not a regular file or directory (mode %v)", st.Mode())
	}
	var total int64
	for _, f := range files {
		total += f.size
		if total > maxTotalLength {
			return nil, fmt.Errorf("total size is more than %d bytes", int64(maxTotalLength))
		}
	}
	if total == 0 {
		return nil, errors.New("torrent has no data")
	}
	pl := opts.PieceLength
	switch {
	case pl == 0:
		pl = autoPieceLength(total)
	case pl < 0 || pl > maxPieceLength:
		return nil, fmt.Errorf("piece length %d out of range (0, %d]", pl, maxPieceLength)
	}
	pieces, err := hashFiles(ctx, files, pl, total)
	if err != nil {
		return nil, err
	}

	info := map[string]any{"name": name, "piece length": pl, "pieces": pieces}
	if opts.Private {
		info["private"] = 1
	}
	if st.IsDir() {
		list := make([]map[string]any, len(files))
		for i, f := range files {
			list[i] = map[string]any{"length": f.size, "path": f.path}
		}
		info["files"] = list
	} else {
		info["length"] = total
	}
	infoBytes, err := zbencode.EncodeBytes(info)
	if err != nil {
		return nil, fmt.Errorf("encode info: %w", err)
	}
	m := &MetaInfo{InfoBytes: infoBytes, Comment: opts.Comment, CreatedBy: opts.CreatedBy}
	if m.CreatedBy == "" {
		m.CreatedBy = "btfs"
	}
	if !opts.CreationDate.IsZero() {
		m.CreationDate = opts.CreationDate
	}
	m.AnnounceList = (&MetaInfo{AnnounceList: opts.Trackers}).Trackers()
	if len(m.AnnounceList) > 0 {
		m.Announce = m.AnnounceList[0][0]
	}
	// Parsing our own encoding validates it and normalises every field
	// exactly as a reader of the file will see it.
	data, err := m.Encode()
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// walk lists the regular files under dir in lexical order.
func walk(dir string) ([]buildFile, error) {
	var files []buildFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s: symbolic links are not supported", p)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		path := strings.Split(rel, string(filepath.Separator))
		for _, c := range path {
			if err := checkComponent(c); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, buildFile{abs: p, path: path, size: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("directory has no files")
	}
	return files, nil
}
