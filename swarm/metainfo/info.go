package metainfo

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
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

func parseInfo(d value, info *Info) error {
	name, err := pathString(d, "name", "info.name")
	if err != nil {
		return err
	}
	info.Name = name

	pl := d.get("piece length")
	switch {
	case pl == nil:
		return errors.New("info.piece length: missing")
	case pl.kind() != kindInt:
		return fmt.Errorf("info.piece length: want integer, got %v", pl.kind())
	case pl.int() <= 0:
		return fmt.Errorf("info.piece length: must be positive, got %d", pl.int())
	case pl.int() > maxPieceLength:
		return fmt.Errorf("info.piece length: %d is more than %d", pl.int(), maxPieceLength)
	}
	info.PieceLength = pl.int()

	if p := d.get("private"); p != nil {
		if p.kind() != kindInt {
			return fmt.Errorf("info.private: want integer, got %v", p.kind())
		}
		info.Private = p.int() == 1
	}

	length, files := d.get("length"), d.get("files")
	switch {
	case length != nil && files != nil:
		return errors.New("info: has both length and files")
	case length == nil && files == nil:
		return errors.New("info: missing both length and files")
	case length != nil:
		if length.kind() != kindInt {
			return fmt.Errorf("info.length: want integer, got %v", length.kind())
		}
		if length.int() < 0 || length.int() > maxTotalLength {
			return fmt.Errorf("info.length: %d out of range [0, %d]", length.int(), int64(maxTotalLength))
		}
		info.Length = length.int()
		info.Files = []File{{Path: []string{name}, Length: length.int(), Padding: isPadding(d)}}
	default:
		info.MultiFile = true
		if err := parseFiles(files, info); err != nil {
			return err
		}
	}
	if info.Length == 0 {
		return errors.New("info: torrent has no data")
	}

	ps := d.get("pieces")
	switch {
	case ps == nil:
		return errors.New("info.pieces: missing")
	case ps.kind() != kindString:
		return fmt.Errorf("info.pieces: want string, got %v", ps.kind())
	case len(ps.str())%20 != 0:
		return fmt.Errorf("info.pieces: length %d is not a multiple of 20", len(ps.str()))
	}
	pieces := ps.str()
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

func parseFiles(v value, info *Info) error {
	if v.kind() != kindList {
		return fmt.Errorf("info.files: want list, got %v", v.kind())
	}
	// No preallocation from the element count: memory grows only with
	// entries that passed validation.
	if v.len() == 0 {
		return errors.New("info.files: empty list")
	}
	seen := make(map[string]bool) // joined paths of files (true) and directories (false)
	for i, fd := range v.items() {
		field := fmt.Sprintf("info.files[%d]", i)
		if fd.kind() != kindDict {
			return fmt.Errorf("%s: want dictionary, got %v", field, fd.kind())
		}
		l := fd.get("length")
		switch {
		case l == nil:
			return fmt.Errorf("%s.length: missing", field)
		case l.kind() != kindInt:
			return fmt.Errorf("%s.length: want integer, got %v", field, l.kind())
		case l.int() < 0 || l.int() > maxTotalLength:
			return fmt.Errorf("%s.length: %d out of range [0, %d]", field, l.int(), int64(maxTotalLength))
		}
		path, err := pathList(fd, field)
		if err != nil {
			return err
		}
		f := File{Path: path, Length: l.int(), Offset: info.Length, Padding: isPadding(fd)}
		info.Length += l.int() // both terms <= 1<<50: no overflow
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

func isPadding(d value) bool {
	a := d.get("attr")
	return a != nil && a.kind() == kindString && strings.IndexByte(string(a.str()), 'p') >= 0
}

// pathString reads the string key (preferring a valid key.utf-8) as one
// path component.
func pathString(d value, key, field string) (string, error) {
	if u := d.get(key + ".utf-8"); u != nil && u.kind() == kindString && utf8.Valid(u.str()) &&
		checkComponent(string(u.str())) == nil {
		return string(u.str()), nil
	}
	v := d.get(key)
	switch {
	case v == nil:
		return "", fmt.Errorf("%s: missing", field)
	case v.kind() != kindString:
		return "", fmt.Errorf("%s: want string, got %v", field, v.kind())
	}
	if err := checkComponent(string(v.str())); err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return string(v.str()), nil
}

// pathList reads a file's path list, preferring a valid path.utf-8.
func pathList(fd value, field string) ([]string, error) {
	if u := fd.get("path.utf-8"); u != nil {
		if p, err := components(u, field+".path.utf-8"); err == nil {
			return p, nil
		}
	}
	v := fd.get("path")
	if v == nil {
		return nil, fmt.Errorf("%s.path: missing", field)
	}
	return components(v, field+".path")
}

func components(v value, field string) ([]string, error) {
	if v.kind() != kindList {
		return nil, fmt.Errorf("%s: want list, got %v", field, v.kind())
	}
	if n := v.len(); n == 0 {
		return nil, fmt.Errorf("%s: empty list", field)
	} else if n > maxPathDepth {
		return nil, fmt.Errorf("%s: %d components, more than %d", field, n, maxPathDepth)
	}
	var p []string
	for i, c := range v.items() {
		if c.kind() != kindString {
			return nil, fmt.Errorf("%s[%d]: want string, got %v", field, i, c.kind())
		}
		if err := checkComponent(string(c.str())); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		p = append(p, string(c.str()))
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
