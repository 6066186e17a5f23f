// Package fs exposes a torrent's file tree read-only through FUSE
// (bazil.org/fuse). It is a thin adapter: every read of a file becomes a
// ReadAt of torrent-global offsets on a Reader that the engine provides, one
// Reader per open file handle. The package knows nothing about peers.
//
// Only errno.go maps Go errors to errno values.
package fs
