package fs

import (
	"context"
	"os"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/btfs/btfs/swarm/metainfo"
)

// node is a dir or a fileNode.
type node interface {
	fusefs.Node
	ino() uint64
}

// dir is a directory. Its children never change after New.
type dir struct {
	readOnly
	fs       *FS
	path     string // slash-separated below the mount root, "" for the root
	inode    uint64
	children map[string]node
	names    []string // sorted keys of children, set by number
	dirents  []fuse.Dirent
}

var (
	_ fusefs.Node                = (*dir)(nil)
	_ fusefs.NodeRequestLookuper = (*dir)(nil)
	_ fusefs.HandleReadDirAller  = (*dir)(nil)
)

func newDir(f *FS, path string) *dir {
	return &dir{fs: f, path: path, children: make(map[string]node)}
}

func (d *dir) add(name string, n node) { d.children[name] = n }

func (d *dir) ino() uint64 { return d.inode }

// number assigns inode numbers in sorted depth-first order and builds the
// directory listing.
func (d *dir) number(next *uint64) {
	d.inode = *next
	*next++
	d.names = sortedNames(d.children)
	for _, name := range d.names {
		switch c := d.children[name].(type) {
		case *dir:
			c.number(next)
		case *fileNode:
			c.inode = *next
			*next++
		}
	}
	d.dirents = make([]fuse.Dirent, 0, len(d.names))
	for _, name := range d.names {
		c := d.children[name]
		typ := fuse.DT_File
		if _, ok := c.(*dir); ok {
			typ = fuse.DT_Dir
		}
		d.dirents = append(d.dirents, fuse.Dirent{Inode: c.ino(), Type: typ, Name: name})
	}
}

// Attr implements fs.Node.
func (d *dir) Attr(ctx context.Context, a *fuse.Attr) error {
	d.fs.fill(a, d.inode)
	a.Mode = os.ModeDir | 0o555
	a.Nlink = 2
	a.Size = 4096
	a.Blocks = 8
	return nil
}

// Lookup implements fs.NodeRequestLookuper.
func (d *dir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	c, ok := d.children[req.Name]
	if !ok {
		return nil, syscall.ENOENT
	}
	resp.EntryValid = attrValid
	return c, nil
}

// ReadDirAll implements fs.HandleReadDirAller.
func (d *dir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	return d.dirents, nil
}

// fileNode is a regular file of the torrent.
type fileNode struct {
	readOnly
	fs    *FS
	path  string // slash-separated below the mount root
	inode uint64
	file  metainfo.File
}

var (
	_ fusefs.Node       = (*fileNode)(nil)
	_ fusefs.NodeOpener = (*fileNode)(nil)
)

func (n *fileNode) ino() uint64 { return n.inode }

// Attr implements fs.Node.
func (n *fileNode) Attr(ctx context.Context, a *fuse.Attr) error {
	n.fs.fill(a, n.inode)
	a.Mode = 0o444
	a.Nlink = 1
	a.Size = uint64(n.file.Length)
	a.Blocks = (a.Size + 511) / 512
	return nil
}

// Open implements fs.NodeOpener: one engine Reader per open handle.
func (n *fileNode) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if !req.Flags.IsReadOnly() || req.Flags&fuse.OpenTruncate != 0 {
		return nil, errno(errReadOnly)
	}
	resp.Flags |= fuse.OpenKeepCache
	if req.Flags&fuse.OpenFlags(syscall.O_DIRECT) != 0 {
		// Else the kernel sends an O_DIRECT read as background requests
		// (bazil.org/fuse always negotiates async direct I/O) and waits
		// for them in D state, deaf to signals, SIGKILL included. As
		// direct I/O of the handle it is one request that a signal
		// interrupts, which cancels the read's context. The cost: a
		// shared mapping of such a handle fails (ENODEV).
		resp.Flags |= fuse.OpenDirectIO
	}
	return &handle{node: n, r: n.fs.torrent.NewReader(n.file)}, nil
}

// fill sets the attributes shared by all nodes.
func (f *FS) fill(a *fuse.Attr, inode uint64) {
	a.Valid = attrValid
	a.Inode = inode
	a.Uid = f.opts.Uid
	a.Gid = f.opts.Gid
	a.Atime = f.opts.MTime
	a.Mtime = f.opts.MTime
	a.Ctime = f.opts.MTime
	a.BlockSize = statfsBlock
}

// readOnly rejects every request that would change the tree. The kernel
// already refuses them on a read-only mount; this is the second line.
type readOnly struct{}

var (
	_ fusefs.NodeSetattrer     = readOnly{}
	_ fusefs.NodeCreater       = readOnly{}
	_ fusefs.NodeMkdirer       = readOnly{}
	_ fusefs.NodeMknoder       = readOnly{}
	_ fusefs.NodeRemover       = readOnly{}
	_ fusefs.NodeRenamer       = readOnly{}
	_ fusefs.NodeSymlinker     = readOnly{}
	_ fusefs.NodeLinker        = readOnly{}
	_ fusefs.NodeSetxattrer    = readOnly{}
	_ fusefs.NodeRemovexattrer = readOnly{}
)

func (readOnly) Setattr(context.Context, *fuse.SetattrRequest, *fuse.SetattrResponse) error {
	return errno(errReadOnly)
}

func (readOnly) Create(context.Context, *fuse.CreateRequest, *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	return nil, nil, errno(errReadOnly)
}

func (readOnly) Mkdir(context.Context, *fuse.MkdirRequest) (fusefs.Node, error) {
	return nil, errno(errReadOnly)
}

func (readOnly) Mknod(context.Context, *fuse.MknodRequest) (fusefs.Node, error) {
	return nil, errno(errReadOnly)
}

func (readOnly) Remove(context.Context, *fuse.RemoveRequest) error { return errno(errReadOnly) }

func (readOnly) Rename(context.Context, *fuse.RenameRequest, fusefs.Node) error {
	return errno(errReadOnly)
}

func (readOnly) Symlink(context.Context, *fuse.SymlinkRequest) (fusefs.Node, error) {
	return nil, errno(errReadOnly)
}

func (readOnly) Link(context.Context, *fuse.LinkRequest, fusefs.Node) (fusefs.Node, error) {
	return nil, errno(errReadOnly)
}

func (readOnly) Setxattr(context.Context, *fuse.SetxattrRequest) error { return errno(errReadOnly) }

func (readOnly) Removexattr(context.Context, *fuse.RemovexattrRequest) error {
	return errno(errReadOnly)
}
