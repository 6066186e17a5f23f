package fs

import (
	"context"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/btfs/btfs/swarm/metainfo"
)

// Reader is what the engine gives per open file handle: reads of
// torrent-global byte offsets.
type Reader interface {
	// ReadAt reads len(p) bytes at the torrent-global offset off. It blocks
	// until the data is verified and returns ctx.Err() promptly once ctx is
	// done.
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	Close() error
}

// Torrent is the engine side.
type Torrent interface {
	// NewReader is called once per open handle; f tells the engine which
	// file is read (readahead bounds, media hints).
	NewReader(f metainfo.File) Reader
}

// Options are the attributes shown for every node.
type Options struct {
	Uid, Gid uint32       // owner of all nodes
	MTime    time.Time    // modification time of all nodes; zero means the time of New
	Logger   *slog.Logger // nil discards logs
	// InodeBase offsets the inode numbers (a library gives each torrent's
	// tree its own range); 0 for a mount of one torrent.
	InodeBase uint64
	// ReadTimeout fails a read with EIO once it has waited this long for
	// the engine; 0 waits until the data comes, the read is interrupted
	// or the file system is unmounted (as a hard NFS mount does).
	ReadTimeout time.Duration
}

// attrValid is how long the kernel may cache attributes and entries: the
// tree and the content never change.
const attrValid = time.Hour

// statfsBlock is the block size reported by Statfs.
const statfsBlock = 4096

// FS is a read-only file system of one torrent. It implements
// bazil.org/fuse/fs.FS and fs.FSStatfser. It is immutable after New and safe
// for concurrent use.
type FS struct {
	torrent Torrent
	opts    Options
	log     *slog.Logger
	root    *dir
	length  int64
	nodes   uint64
	lib     *Library // set for a library's FS: its root is the library's
}

var (
	_ fusefs.FS         = (*FS)(nil)
	_ fusefs.FSStatfser = (*FS)(nil)
)

// New builds the tree from info: a single-file torrent shows /Name at the
// mount root; a multi-file torrent shows /Name/<paths...>. Padding files are
// hidden. Inode numbers follow the sorted tree order (root is 1), so the same
// info always gives the same numbers.
func New(info *metainfo.Info, t Torrent, opts Options) *FS {
	f := &FS{torrent: t, opts: opts, log: opts.Logger, length: info.Length}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.opts.MTime.IsZero() {
		f.opts.MTime = time.Now()
	}
	f.root = newDir(f, "")
	top := f.root
	if info.MultiFile {
		top = newDir(f, info.Name)
		f.root.add(info.Name, top)
	}
	for _, file := range info.Files {
		if file.Padding || len(file.Path) == 0 {
			continue
		}
		f.insert(top, file)
	}
	next := opts.InodeBase + 1
	f.root.number(&next)
	f.nodes = next - 1 - opts.InodeBase
	return f
}

// insert adds file below top, creating directories on the way. An entry
// that clashes with an existing one is skipped: metainfo rejects such
// torrents, this only keeps the tree consistent.
func (f *FS) insert(top *dir, file metainfo.File) {
	d := top
	for i, name := range file.Path {
		if i == len(file.Path)-1 {
			if _, ok := d.children[name]; ok {
				f.log.Warn("fs: duplicate path skipped", "path", strings.Join(file.Path, "/"))
				return
			}
			d.add(name, &fileNode{fs: f, path: path.Join(d.path, name), file: file})
			return
		}
		child, ok := d.children[name]
		if !ok {
			sub := newDir(f, path.Join(d.path, name))
			d.add(name, sub)
			child = sub
		}
		sub, ok := child.(*dir)
		if !ok {
			f.log.Warn("fs: path below a file skipped", "path", strings.Join(file.Path, "/"))
			return
		}
		d = sub
	}
}

// Root implements fs.FS.
func (f *FS) Root() (fusefs.Node, error) {
	if f.lib != nil {
		return f.lib.root, nil
	}
	return f.root, nil
}

// Statfs implements fs.FSStatfser: a full, read-only file system.
func (f *FS) Statfs(ctx context.Context, req *fuse.StatfsRequest, resp *fuse.StatfsResponse) error {
	resp.Bsize = statfsBlock
	resp.Frsize = statfsBlock
	resp.Blocks = uint64((f.length + statfsBlock - 1) / statfsBlock)
	resp.Files = f.nodes
	resp.Namelen = 255
	return nil
}

// sortedNames returns the keys of m in order.
func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
