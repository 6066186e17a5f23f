package tracker

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// A small bencode reader for tracker responses. It checks every length
// against the input before using it, bounds nesting, and never panics, so
// a hostile tracker cannot make it allocate more than the body it sent.
//
// Decoded values are int64, string, []any and map[string]any.

// maxDepth bounds the nesting of lists and dictionaries.
const maxDepth = 32

var errTruncated = errors.New("bencode: truncated input")

type decoder struct {
	b     []byte
	pos   int
	depth int
}

// decodeBencode decodes the single value in b. Trailing whitespace is
// tolerated; any other trailing byte is an error.
func decodeBencode(b []byte) (any, error) {
	d := decoder{b: b}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if rest := bytes.TrimSpace(b[d.pos:]); len(rest) > 0 {
		return nil, fmt.Errorf("bencode: %d trailing bytes at offset %d", len(rest), d.pos)
	}
	return v, nil
}

func (d *decoder) value() (any, error) {
	if d.pos >= len(d.b) {
		return nil, errTruncated
	}
	switch c := d.b[d.pos]; {
	case c == 'i':
		return d.integer()
	case '0' <= c && c <= '9':
		return d.str()
	case c == 'l':
		return d.list()
	case c == 'd':
		return d.dict()
	default:
		return nil, fmt.Errorf("bencode: unexpected byte %q at offset %d", c, d.pos)
	}
}

func (d *decoder) integer() (int64, error) {
	start := d.pos + 1 // past 'i'
	end := bytes.IndexByte(d.b[start:], 'e')
	if end < 0 {
		return 0, errTruncated
	}
	digits := d.b[start : start+end]
	if !validInt(digits) {
		return 0, fmt.Errorf("bencode: invalid integer %q at offset %d", digits, d.pos)
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bencode: integer at offset %d: %w", d.pos, err)
	}
	d.pos = start + end + 1
	return n, nil
}

// validInt reports whether s is a canonical bencode integer body: digits
// with an optional minus sign, no leading zeros, no "-0".
func validInt(s []byte) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
		if len(s) > 0 && s[0] == '0' {
			return false
		}
	}
	if len(s) == 0 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (d *decoder) str() (string, error) {
	colon := bytes.IndexByte(d.b[d.pos:], ':')
	if colon < 0 {
		return "", errTruncated
	}
	digits := d.b[d.pos : d.pos+colon]
	if len(digits) == 0 || len(digits) > 10 {
		return "", fmt.Errorf("bencode: invalid string length at offset %d", d.pos)
	}
	var n int
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", fmt.Errorf("bencode: invalid string length %q at offset %d", digits, d.pos)
		}
		n = n*10 + int(c-'0')
	}
	start := d.pos + colon + 1
	if n > len(d.b)-start {
		return "", errTruncated
	}
	d.pos = start + n
	return string(d.b[start:d.pos]), nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return fmt.Errorf("bencode: nesting deeper than %d at offset %d", maxDepth, d.pos)
	}
	d.pos++ // past 'l' or 'd'
	return nil
}

func (d *decoder) list() ([]any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	var l []any
	for {
		if d.pos >= len(d.b) {
			return nil, errTruncated
		}
		if d.b[d.pos] == 'e' {
			d.pos++
			d.depth--
			return l, nil
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		l = append(l, v)
	}
}

func (d *decoder) dict() (map[string]any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	m := make(map[string]any)
	for {
		if d.pos >= len(d.b) {
			return nil, errTruncated
		}
		c := d.b[d.pos]
		if c == 'e' {
			d.pos++
			d.depth--
			return m, nil
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("bencode: dictionary key is not a string at offset %d", d.pos)
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
}
