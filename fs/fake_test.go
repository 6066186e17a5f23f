package fs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/btfs/btfs/swarm/metainfo"
)

func TestMain(m *testing.M) {
	// These tests serve FUSE and read it from the same process. If a
	// garbage collection stops the world while a test goroutine's thread
	// is inside the kernel on the mount, the collector waits for that
	// thread and the thread waits for the (stopped) server: a deadlock
	// seen on loaded machines. The tests allocate little, so the
	// collector stays off; btfs itself never reads its own mount.
	debug.SetGCPercent(-1)
	goleak.VerifyTestMain(m)
}

// fakeTorrent serves reads from memory.
type fakeTorrent struct {
	data     []byte
	maxChunk int           // if > 0, ReadAt returns at most this many bytes per call
	delay    time.Duration // per ReadAt
	block    bool          // ReadAt waits until its ctx is done
	err      error         // returned by every ReadAt
	blocked  chan struct{} // gets a value when a ReadAt starts blocking
	opened   atomic.Int32
	closed   atomic.Int32
}

func (t *fakeTorrent) NewReader(f metainfo.File) Reader {
	t.opened.Add(1)
	return &fakeReader{t: t, f: f}
}

type fakeReader struct {
	t      *fakeTorrent
	f      metainfo.File
	closed atomic.Bool
}

func (r *fakeReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if r.closed.Load() {
		return 0, fmt.Errorf("reader: %w", os.ErrClosed)
	}
	if off < r.f.Offset || off+int64(len(p)) > r.f.Offset+r.f.Length {
		return 0, fmt.Errorf("read [%d,%d) outside file %v", off, off+int64(len(p)), r.f.Path)
	}
	if r.t.err != nil {
		return 0, r.t.err
	}
	if r.t.block {
		select {
		case r.t.blocked <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	if r.t.delay > 0 {
		select {
		case <-time.After(r.t.delay):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if r.t.maxChunk > 0 && len(p) > r.t.maxChunk {
		p = p[:r.t.maxChunk]
	}
	return copy(p, r.t.data[off:]), nil
}

func (r *fakeReader) Close() error {
	if r.closed.Swap(true) {
		return os.ErrClosed
	}
	r.t.closed.Add(1)
	return nil
}

// spec describes one file of a test torrent.
type spec struct {
	path    string
	length  int64
	padding bool
}

// build makes an Info and its content from specs; one spec with multi
// false makes a single-file torrent.
func build(name string, multi bool, specs ...spec) (*metainfo.Info, []byte) {
	info := &metainfo.Info{Name: name, PieceLength: 1 << 14, MultiFile: multi}
	for _, s := range specs {
		info.Files = append(info.Files, metainfo.File{
			Path:    strings.Split(s.path, "/"),
			Length:  s.length,
			Offset:  info.Length,
			Padding: s.padding,
		})
		info.Length += s.length
	}
	data := make([]byte, info.Length)
	rng := rand.New(rand.NewPCG(1, uint64(info.Length)))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	info.Pieces = make([][20]byte, (info.Length+info.PieceLength-1)/info.PieceLength)
	return info, data
}

// treeName is the root directory of the multi-file test torrent.
const treeName = "My Torrent ✓"

// tree is a multi-file torrent with nested directories, empty and tiny
// files, odd names and a padding file.
func tree() (*metainfo.Info, []byte) {
	return build(treeName, true,
		spec{path: "a.txt", length: 1000},
		spec{path: "empty", length: 0},
		spec{path: ".pad/24", length: 24, padding: true},
		spec{path: "one", length: 1},
		spec{path: "dir with space/ünïcødé 文件.bin", length: 70_000},
		spec{path: "dir with space/sub/deep.dat", length: 300_001},
		spec{path: "z/last", length: 5},
	)
}

// fileData returns the content of f.
func fileData(data []byte, f metainfo.File) []byte { return data[f.Offset : f.Offset+f.Length] }

// mountFS mounts fsys on a new directory and unmounts it in t.Cleanup. stop
// cancels the mount and returns Mount's result; it may be called early.
func mountFS(t testing.TB, fsys *FS) (dir string, stop func() error) {
	t.Helper()
	dir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- Mount(ctx, dir, fsys, MountOptions{FSName: "btfstest"}, ready) }()
	select {
	case <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("Mount: %v", err)
	}
	var (
		stopped bool
		result  error
	)
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-errc:
			case <-time.After(20 * time.Second):
				result = fmt.Errorf("Mount did not return")
			}
		}
		return result
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Mount: %v", err)
		}
		if isMounted(dir) {
			t.Errorf("%s still mounted", dir)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir, stop
}

func isMounted(dir string) bool {
	_, ok := mountDevice(dir)
	return ok
}
