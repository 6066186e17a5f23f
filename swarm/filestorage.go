package swarm

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/btfs/btfs/swarm/bitfield"
	"github.com/btfs/btfs/swarm/metainfo"
)

// FileStorage keeps a torrent's data in its files, laid out as a
// BitTorrent client saves them. Opened read-only it is what `btfs seed`
// shares; created writable it is where `btfs get` downloads. Only pieces
// that passed their hash check (in Verify, or before Put) are served.
type FileStorage struct {
	info     *metainfo.Info
	layout   metainfo.Layout
	files    []*os.File // parallel to info.Files; nil for missing files
	fresh    []bool     // parallel to info.Files: created empty by us, holds no data yet
	writable bool

	// mu guards have; Verify writes it, readers read it.
	mu   sync.RWMutex
	have bitfield.Bitfield
}

// OpenFileStorage opens the torrent's files below dir, laid out as a
// BitTorrent client saves them: dir/Name for a single-file torrent and
// dir/Name/path... for a multi-file one. Missing files are tolerated (their
// pieces simply fail verification). Call Verify before serving.
func OpenFileStorage(info *metainfo.Info, dir string) (*FileStorage, error) {
	fs := &FileStorage{info: info, layout: info.Layout(), have: bitfield.New(info.NumPieces())}
	found := 0
	for _, f := range info.Files {
		p := filepath.Join(append([]string{dir}, contentPath(info, f)...)...)
		if f.Padding {
			fs.files = append(fs.files, nil)
			continue
		}
		h, err := os.Open(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			fs.Close()
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		if h != nil {
			found++
		}
		fs.files = append(fs.files, h)
	}
	if found == 0 && info.Length > 0 {
		fs.Close()
		return nil, fmt.Errorf("no file of torrent %q found under %s", info.Name, dir)
	}
	return fs, nil
}

// CreateFileStorage opens (creating where missing) the torrent's files below
// dir for downloading into. Existing data is kept: call Verify to resume.
func CreateFileStorage(info *metainfo.Info, dir string) (*FileStorage, error) {
	fs := &FileStorage{info: info, layout: info.Layout(), have: bitfield.New(info.NumPieces()), writable: true}
	for _, f := range info.Files {
		if f.Padding {
			fs.files = append(fs.files, nil)
			fs.fresh = append(fs.fresh, true)
			continue
		}
		p := filepath.Join(append([]string{dir}, contentPath(info, f)...)...)
		_, statErr := os.Stat(p)
		fs.fresh = append(fs.fresh, errors.Is(statErr, os.ErrNotExist))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fs.Close()
			return nil, fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
		h, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			fs.Close()
			return nil, fmt.Errorf("create %s: %w", p, err)
		}
		fs.files = append(fs.files, h)
		if st, err := h.Stat(); err == nil && st.Size() < f.Length {
			if err := h.Truncate(f.Length); err != nil { // sparse: no space used yet
				fs.Close()
				return nil, fmt.Errorf("size %s: %w", p, err)
			}
		}
	}
	return fs, nil
}

func contentPath(info *metainfo.Info, f metainfo.File) []string {
	if !info.MultiFile {
		return []string{info.Name}
	}
	return append([]string{info.Name}, f.Path...)
}

// Verify hashes every piece and returns how many are good.
func (fs *FileStorage) Verify(ctx context.Context) (int, error) {
	buf := make([]byte, fs.info.PieceLength)
	good := 0
	for i := range fs.layout.NumPieces {
		if err := ctx.Err(); err != nil {
			return good, fmt.Errorf("verify: %w", err)
		}
		if fs.unwritten(i) {
			continue // only files we just created: nothing to hash
		}
		d := buf[:fs.layout.PieceSize(i)]
		if err := fs.readRaw(fs.layout.PieceOffset(i), d); err != nil {
			continue
		}
		if sha1.Sum(d) == fs.info.Pieces[i] {
			fs.mu.Lock()
			fs.have.Set(i)
			fs.mu.Unlock()
			good++
		}
	}
	return good, nil
}

// unwritten reports whether every file piece i touches was created empty
// by CreateFileStorage, so the piece cannot be there yet.
func (fs *FileStorage) unwritten(i int) bool {
	if fs.fresh == nil {
		return false
	}
	off, n := fs.layout.PieceOffset(i), int64(fs.layout.PieceSize(i))
	for idx := firstFile(fs.info.Files, off); idx < len(fs.info.Files) && fs.info.Files[idx].Offset < off+n; idx++ {
		if fs.info.Files[idx].Length > 0 && !fs.fresh[idx] {
			return false
		}
	}
	return true
}

// readRaw reads torrent bytes [off, off+len(p)) from the files.
func (fs *FileStorage) readRaw(off int64, p []byte) error {
	for idx := firstFile(fs.info.Files, off); idx < len(fs.info.Files) && fs.info.Files[idx].Offset < off+int64(len(p)); idx++ {
		f := fs.info.Files[idx]
		h := fs.files[idx]
		if f.Length == 0 {
			continue
		}
		if h == nil && f.Padding {
			lo := max(off, f.Offset)
			hi := min(off+int64(len(p)), f.Offset+f.Length)
			clear(p[lo-off : hi-off])
			continue
		}
		if h == nil {
			return fmt.Errorf("file %s missing", filepath.Join(f.Path...))
		}
		lo := max(off, f.Offset)
		hi := min(off+int64(len(p)), f.Offset+f.Length)
		if _, err := h.ReadAt(p[lo-off:hi-off], lo-f.Offset); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("file %s is short: %w", filepath.Join(f.Path...), err)
			}
			return fmt.Errorf("read %s: %w", filepath.Join(f.Path...), err)
		}
	}
	return nil
}

// firstFile returns the index of the first file whose bytes reach past
// off (files are sorted by offset).
func firstFile(files []metainfo.File, off int64) int {
	return sort.Search(len(files), func(i int) bool { return files[i].Offset+files[i].Length > off })
}

// Has implements Storage.
func (fs *FileStorage) Has(piece int) bool {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	return fs.have.Has(piece)
}

// ReadBlock implements Storage.
func (fs *FileStorage) ReadBlock(piece, begin int, p []byte) (bool, error) {
	if !fs.Has(piece) || begin < 0 || begin+len(p) > fs.layout.PieceSize(piece) {
		return false, nil
	}
	if err := fs.readRaw(fs.layout.PieceOffset(piece)+int64(begin), p); err != nil {
		return false, fmt.Errorf("piece %d: %w", piece, err)
	}
	return true, nil
}

// Piece implements Storage.
func (fs *FileStorage) Piece(piece int) ([]byte, bool, error) {
	if !fs.Has(piece) {
		return nil, false, nil
	}
	d := make([]byte, fs.layout.PieceSize(piece))
	ok, err := fs.ReadBlock(piece, 0, d)
	return d, ok, err
}

// Put implements Storage: a writable storage writes the verified piece
// into its files; a read-only one keeps nothing new.
func (fs *FileStorage) Put(piece int, data []byte) error {
	if !fs.writable {
		return nil
	}
	off := fs.layout.PieceOffset(piece)
	for idx := firstFile(fs.info.Files, off); idx < len(fs.info.Files) && fs.info.Files[idx].Offset < off+int64(len(data)); idx++ {
		f := fs.info.Files[idx]
		h := fs.files[idx]
		if h == nil || f.Length == 0 {
			continue // padding, or nothing to write
		}
		lo := max(off, f.Offset)
		hi := min(off+int64(len(data)), f.Offset+f.Length)
		if _, err := h.WriteAt(data[lo-off:hi-off], lo-f.Offset); err != nil {
			return fmt.Errorf("piece %d: write %s: %w", piece, filepath.Join(f.Path...), err)
		}
	}
	fs.mu.Lock()
	fs.have.Set(piece)
	fs.mu.Unlock()
	return nil
}

// Sync flushes written data to disk.
func (fs *FileStorage) Sync() error {
	var errs []error
	for _, h := range fs.files {
		if h != nil && fs.writable {
			errs = append(errs, h.Sync())
		}
	}
	return errors.Join(errs...)
}

// Close closes the files.
func (fs *FileStorage) Close() error {
	var errs []error
	for _, h := range fs.files {
		if h != nil {
			errs = append(errs, h.Close())
		}
	}
	return errors.Join(errs...)
}
