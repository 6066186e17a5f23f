package fs

import (
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"path"
	"strings"
	"time"
)

// IOFS returns the tree as an io/fs.FS, without a kernel: for tests
// (testing/fstest.TestFS) and tools. Each opened file holds its own engine
// Reader until Close; reads use ctx. Files implement io.ReaderAt and
// io.Seeker; directories implement fs.ReadDirFile.
func (f *FS) IOFS(ctx context.Context) iofs.FS { return &ioFS{fs: f, ctx: ctx} }

type ioFS struct {
	fs  *FS
	ctx context.Context
}

func (v *ioFS) Open(name string) (iofs.File, error) {
	if !iofs.ValidPath(name) {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: iofs.ErrInvalid}
	}
	var n node = v.fs.root
	if name != "." {
		for elem := range strings.SplitSeq(name, "/") {
			d, ok := n.(*dir)
			if !ok {
				return nil, &iofs.PathError{Op: "open", Path: name, Err: iofs.ErrNotExist}
			}
			if n, ok = d.children[elem]; !ok {
				return nil, &iofs.PathError{Op: "open", Path: name, Err: iofs.ErrNotExist}
			}
		}
	}
	info := ioInfo{name: path.Base(name), n: n, mtime: v.fs.opts.MTime}
	if d, ok := n.(*dir); ok {
		return &ioDir{ioInfo: info, d: d}, nil
	}
	file := n.(*fileNode)
	return &ioFile{ioInfo: info, ctx: v.ctx, file: file, r: v.fs.torrent.NewReader(file.file)}, nil
}

// ioInfo is both the FileInfo and the DirEntry of a node.
type ioInfo struct {
	name  string
	n     node
	mtime time.Time
}

func (i ioInfo) Name() string                 { return i.name }
func (i ioInfo) ModTime() time.Time           { return i.mtime }
func (i ioInfo) IsDir() bool                  { _, ok := i.n.(*dir); return ok }
func (i ioInfo) Sys() any                     { return nil }
func (i ioInfo) Type() iofs.FileMode          { return i.Mode().Type() }
func (i ioInfo) Info() (iofs.FileInfo, error) { return i, nil }
func (i ioInfo) String() string               { return iofs.FormatFileInfo(i) }

func (i ioInfo) Size() int64 {
	if f, ok := i.n.(*fileNode); ok {
		return f.file.Length
	}
	return 0
}

func (i ioInfo) Mode() iofs.FileMode {
	if i.IsDir() {
		return iofs.ModeDir | 0o555
	}
	return 0o444
}

type ioDir struct {
	ioInfo
	d    *dir
	next int // index in d.names of the next ReadDir entry
}

func (d *ioDir) Stat() (iofs.FileInfo, error) { return d.ioInfo, nil }
func (d *ioDir) Close() error                 { return nil }

func (d *ioDir) Read([]byte) (int, error) {
	return 0, &iofs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}

func (d *ioDir) ReadDir(n int) ([]iofs.DirEntry, error) {
	rest := d.d.names[d.next:]
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if n > 0 && n < len(rest) {
		rest = rest[:n]
	}
	entries := make([]iofs.DirEntry, 0, len(rest))
	for _, name := range rest {
		entries = append(entries, ioInfo{name: name, n: d.d.children[name], mtime: d.mtime})
	}
	d.next += len(rest)
	return entries, nil
}

type ioFile struct {
	ioInfo
	ctx    context.Context
	file   *fileNode
	r      Reader
	off    int64
	closed bool
}

var (
	_ io.ReaderAt = (*ioFile)(nil)
	_ io.Seeker   = (*ioFile)(nil)
)

func (f *ioFile) Stat() (iofs.FileInfo, error) { return f.ioInfo, nil }

func (f *ioFile) Close() error {
	if f.closed {
		return &iofs.PathError{Op: "close", Path: f.name, Err: iofs.ErrClosed}
	}
	f.closed = true
	return f.r.Close()
}

func (f *ioFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt reads at an offset within the file.
func (f *ioFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, &iofs.PathError{Op: "read", Path: f.name, Err: iofs.ErrClosed}
	}
	if off < 0 {
		return 0, &iofs.PathError{Op: "read", Path: f.name, Err: iofs.ErrInvalid}
	}
	length := f.file.file.Length
	if off >= length {
		return 0, io.EOF
	}
	n := min(int64(len(p)), length-off)
	if err := readFull(f.ctx, f.r, p[:n], f.file.file.Offset+off); err != nil {
		return 0, &iofs.PathError{Op: "read", Path: f.name, Err: err}
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

func (f *ioFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.file.file.Length
	case io.SeekStart:
	default:
		return 0, &iofs.PathError{Op: "seek", Path: f.name, Err: iofs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &iofs.PathError{Op: "seek", Path: f.name, Err: iofs.ErrInvalid}
	}
	f.off = offset
	return offset, nil
}
