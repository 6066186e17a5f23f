package fs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/btfs/btfs/swarm/metainfo"
)

// libraryValid is how long the kernel may cache the library's top level
// (its entries and attributes): torrents come and go while it is mounted,
// so a removed one disappears from lookups within this time.
const libraryValid = 500 * time.Millisecond

// inodeRange is the inode numbers each torrent of a library gets.
const inodeRange = 1 << 32

// Library is a mount that shows many torrents at its top level, each under
// its own name (a single-file torrent as that file, a multi-file torrent as
// its directory), added and removed while mounted. It is safe for
// concurrent use.
type Library struct {
	opts Options
	root *libRoot

	mu      sync.RWMutex
	byKey   map[string]string // caller's key -> name shown
	entries map[string]libEntry
	next    uint64 // torrents added so far: each gets its own inode range
}

type libEntry struct {
	key  string
	node node
	fs   *FS
}

// NewLibrary returns an empty library and the FS to mount it with.
func NewLibrary(opts Options) (*FS, *Library) {
	if opts.MTime.IsZero() {
		opts.MTime = time.Now()
	}
	l := &Library{opts: opts, byKey: map[string]string{}, entries: map[string]libEntry{}}
	l.root = &libRoot{lib: l}
	f := &FS{opts: opts, log: opts.Logger, lib: l}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, l
}

// Add shows torrent t (of info, info-hash ih) at the top level under key
// (the caller's name for it, e.g. its .torrent file), and returns the name
// shown: info's name, or on a clash with another torrent's that name with
// " [first 8 hex digits of the info-hash]" appended. Adding a key again
// replaces its torrent.
func (l *Library) Add(key string, ih [20]byte, info *metainfo.Info, t Torrent) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(key)
	l.next++
	opts := l.opts
	opts.InodeBase = l.next * inodeRange
	f := New(info, t, opts)
	var top node
	var name string
	for n, c := range f.root.children { // exactly one: the file or the directory
		name, top = n, c
	}
	if top == nil {
		top, name = newDir(f, info.Name), info.Name // no files: an empty directory
		n := opts.InodeBase + 1
		top.(*dir).number(&n)
	}
	if _, clash := l.entries[name]; clash {
		name = fmt.Sprintf("%s [%x]", name, ih[:4])
	}
	l.entries[name] = libEntry{key: key, node: top, fs: f}
	l.byKey[key] = name
	return name
}

// Remove takes the torrent added under key off the top level.
func (l *Library) Remove(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(key)
}

func (l *Library) removeLocked(key string) {
	if name, ok := l.byKey[key]; ok {
		delete(l.entries, name)
		delete(l.byKey, key)
	}
}

// Names returns the names shown, by key.
func (l *Library) Names() map[string]string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	m := make(map[string]string, len(l.byKey))
	for k, n := range l.byKey {
		m[k] = n
	}
	return m
}

// libRoot is the library's top-level directory.
type libRoot struct {
	readOnly
	lib *Library
}

var (
	_ fusefs.Node                = (*libRoot)(nil)
	_ fusefs.NodeRequestLookuper = (*libRoot)(nil)
	_ fusefs.HandleReadDirAller  = (*libRoot)(nil)
)

// Attr implements fs.Node.
func (r *libRoot) Attr(ctx context.Context, a *fuse.Attr) error {
	o := r.lib.opts
	a.Valid = libraryValid
	a.Inode = 1
	a.Uid, a.Gid = o.Uid, o.Gid
	a.Atime, a.Mtime, a.Ctime = o.MTime, o.MTime, o.MTime
	a.BlockSize = statfsBlock
	a.Mode = os.ModeDir | 0o555
	a.Nlink = 2
	a.Size = 4096
	a.Blocks = 8
	return nil
}

// Lookup implements fs.NodeRequestLookuper.
func (r *libRoot) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	r.lib.mu.RLock()
	e, ok := r.lib.entries[req.Name]
	r.lib.mu.RUnlock()
	if !ok {
		return nil, syscall.ENOENT
	}
	resp.EntryValid = libraryValid
	return e.node, nil
}

// ReadDirAll implements fs.HandleReadDirAller.
func (r *libRoot) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	r.lib.mu.RLock()
	defer r.lib.mu.RUnlock()
	out := make([]fuse.Dirent, 0, len(r.lib.entries))
	for _, name := range sortedNames(r.lib.entries) {
		typ := fuse.DT_File
		n := r.lib.entries[name].node
		if _, ok := n.(*dir); ok {
			typ = fuse.DT_Dir
		}
		out = append(out, fuse.Dirent{Inode: n.ino(), Type: typ, Name: name})
	}
	return out, nil
}
