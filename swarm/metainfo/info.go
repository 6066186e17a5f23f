package metainfo

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/btfs/btfs/swarm/bencode"
)

// Limits on what Parse accepts.
const (
	maxTotalLength = 1 << 50
	maxPieceLength = 1 << 30
	maxPathDepth   = 1024 // components in one file's path
)

// Info is the validated content of a torrent's info dictionary.
type Info struct {
	Name        string
	PieceLength int64
	Pieces      [][20]byte
	Private     bool
	MultiFile   bool
	Files       []File // always >= 1 entry; single-file mode gives one File with Path []string{Name}
	Length      int64  // total bytes of all files
}

// File is one file of a torrent.
type File struct {
	Path    []string // components below the torrent's root directory (multi-file: without Name; single-file: []string{Name})
	Length  int64
	Offset  int64 // offset of the file's first byte in the torrent's concatenated data
	Padding bool  // BEP 47 attr contains 'p'
}

// NumPieces returns the number of pieces.
func (i *Info) NumPieces() int { return len(i.Pieces) }

// Layout returns the piece arithmetic for the torrent.
func (i *Info) Layout() Layout {
	return Layout{Length: i.Length, PieceLength: i.PieceLength, NumPieces: len(i.Pieces)}
}

func parseInfo(d bencode.Value, info *Info) error {
	name, err := pathString(d, "name", "info.name")
	if err != nil {
		return err
	}
	info.Name = name

	pl := d.Get("piece length")
	switch {
	case pl == nil:
		return errors.New("info.piece length: missing")
	case pl.Kind() != bencode.Int:
		return fmt.Errorf("info.piece length: want integer, got %v", pl.Kind())
	case pl.Int() <= 0:
		return fmt.Errorf("info.piece length: must be positive, got %d", pl.Int())
	case pl.Int() > maxPieceLength:
		return fmt.Errorf("info.piece length: %d is more than %d", pl.Int(), maxPieceLength)
	}
	info.PieceLength = pl.Int()

	if p := d.Get("private"); p != nil {
		if p.Kind() != bencode.Int {
			return fmt.Errorf("info.private: want integer, got %v", p.Kind())
		}
		info.Private = p.Int() == 1
	}

	length, files := d.Get("length"), d.Get("files")
	switch {
	case length != nil && files != nil:
		return errors.New("info: has both length and files")
	case length == nil && files == nil:
		return errors.New("info: missing both length and files")
	case length != nil:
		if length.Kind() != bencode.Int {
			return fmt.Errorf("info.length: want integer, got %v", length.Kind())
		}
		if length.Int() < 0 || length.Int() > maxTotalLength {
			return fmt.Errorf("info.length: %d out of range [0, %d]", length.Int(), int64(maxTotalLength))
		}
		info.Length = length.Int()
		info.Files = []File{{Path: []string{name}, Length: length.Int(), Padding: isPadding(d)}}
	default:
		info.MultiFile = true
		if err := parseFiles(files, info); err != nil {
			return err
		}
	}
	if info.Length == 0 {
		return errors.New("info: torrent has no data")
	}

	ps := d.Get("pieces")
	switch {
	case ps == nil:
		return errors.New("info.pieces: missing")
	case ps.Kind() != bencode.String:
		return fmt.Errorf("info.pieces: want string, got %v", ps.Kind())
	case len(ps.Bytes())%20 != 0:
		return fmt.Errorf("info.pieces: length %d is not a multiple of 20", len(ps.Bytes()))
	}
	pieces := ps.Bytes()
	want := (info.Length + info.PieceLength - 1) / info.PieceLength
	if got := int64(len(pieces) / 20); got != want {
		return fmt.Errorf("info.pieces: %d hashes for %d bytes in pieces of %d, want %d",
			got, info.Length, info.PieceLength, want)
	}
	info.Pieces = make([][20]byte, want)
	for i := range info.Pieces {
		copy(info.Pieces[i][:], pieces[i*20:])
	}
	return nil
}

func parseFiles(v bencode.Value, info *Info) error {
	if v.Kind() != bencode.List {
		return fmt.Errorf("info.files: want list, got %v", v.Kind())
	}
	// No preallocation from the element count: memory grows only with
	// entries that passed validation.
	if v.Len() == 0 {
		return errors.New("info.files: empty list")
	}
	seen := make(map[string]bool) // joined paths of files (true) and directories (false)
	for i, fd := range v.Items() {
		field := fmt.Sprintf("info.files[%d]", i)
		if fd.Kind() != bencode.Dict {
			return fmt.Errorf("%s: want dictionary, got %v", field, fd.Kind())
		}
		l := fd.Get("length")
		switch {
		case l == nil:
			return fmt.Errorf("%s.length: missing", field)
		case l.Kind() != bencode.Int:
			return fmt.Errorf("%s.length: want integer, got %v", field, l.Kind())
		case l.Int() < 0 || l.Int() > maxTotalLength:
			return fmt.Errorf("%s.length: %d out of range [0, %d]", field, l.Int(), int64(maxTotalLength))
		}
		path, err := pathList(fd, field)
		if err != nil {
			return err
		}
		f := File{Path: path, Length: l.Int(), Offset: info.Length, Padding: isPadding(fd)}
		info.Length += l.Int() // both terms <= 1<<50: no overflow
		if info.Length > maxTotalLength {
			return fmt.Errorf("info.files: total length is more than %d", int64(maxTotalLength))
		}
		// Padding files (BEP 47) may share a path such as ".pad/16384".
		if !f.Padding {
			if err := claim(seen, path); err != nil {
				return fmt.Errorf("%s.path: %w", field, err)
			}
		}
		info.Files = append(info.Files, f)
	}
	return nil
}

// claim records a file path and its parent directories, failing if the
// path is already a file or directory, or a parent is already a file.
func claim(seen map[string]bool, path []string) error {
	for i := 1; i < len(path); i++ {
		dir := strings.Join(path[:i], "/")
		if isFile, ok := seen[dir]; ok && isFile {
			return fmt.Errorf("directory %q is also a file", dir)
		}
		seen[dir] = false
	}
	full := strings.Join(path, "/")
	if isFile, ok := seen[full]; ok {
		if isFile {
			return fmt.Errorf("duplicate file %q", full)
		}
		return fmt.Errorf("file %q is also a directory", full)
	}
	seen[full] = true
	return nil
}

func isPadding(d bencode.Value) bool {
	a := d.Get("attr")
	return a != nil && a.Kind() == bencode.String && strings.IndexByte(string(a.Bytes()), 'p') >= 0
}

// pathString reads the string key (preferring a valid key.utf-8) as one
// path component.
func pathString(d bencode.Value, key, field string) (string, error) {
	if u := d.Get(key + ".utf-8"); u != nil && u.Kind() == bencode.String && utf8.Valid(u.Bytes()) &&
		checkComponent(string(u.Bytes())) == nil {
		return string(u.Bytes()), nil
	}
	v := d.Get(key)
	switch {
	case v == nil:
		return "", fmt.Errorf("%s: missing", field)
	case v.Kind() != bencode.String:
		return "", fmt.Errorf("%s: want string, got %v", field, v.Kind())
	}
	if err := checkComponent(string(v.Bytes())); err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return string(v.Bytes()), nil
}

// pathList reads a file's path list, preferring a valid path.utf-8.
func pathList(fd bencode.Value, field string) ([]string, error) {
	if u := fd.Get("path.utf-8"); u != nil {
		if p, err := components(u, field+".path.utf-8"); err == nil {
			return p, nil
		}
	}
	v := fd.Get("path")
	if v == nil {
		return nil, fmt.Errorf("%s.path: missing", field)
	}
	return components(v, field+".path")
}

func components(v bencode.Value, field string) ([]string, error) {
	if v.Kind() != bencode.List {
		return nil, fmt.Errorf("%s: want list, got %v", field, v.Kind())
	}
	if n := v.Len(); n == 0 {
		return nil, fmt.Errorf("%s: empty list", field)
	} else if n > maxPathDepth {
		return nil, fmt.Errorf("%s: %d components, more than %d", field, n, maxPathDepth)
	}
	var p []string
	for i, c := range v.Items() {
		if c.Kind() != bencode.String {
			return nil, fmt.Errorf("%s[%d]: want string, got %v", field, i, c.Kind())
		}
		if err := checkComponent(string(c.Bytes())); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		p = append(p, string(c.Bytes()))
	}
	return p, nil
}

// checkComponent rejects path components that could escape or confuse a
// directory tree.
func checkComponent(c string) error {
	switch {
	case c == "":
		return errors.New("empty path component")
	case c == "." || c == "..":
		return fmt.Errorf("path component %q is not allowed", c)
	case strings.ContainsAny(c, "/\\\x00"):
		return fmt.Errorf("path component %q contains '/', '\\' or NUL", c)
	}
	return nil
}
