// Package bencode is a strict, allocation-free bencode decoder for input
// from untrusted sources (torrent files, peers, trackers, DHT nodes): every
// length is checked against the input before use, nesting is bounded, and
// decoding never panics. A Value is the validated bytes of one value;
// accessors decode lazily. Encoding is left to github.com/zeebo/bencode.
package bencode

import (
	"bytes"
	"fmt"
	"iter"
	"slices"
)

// maxDepth bounds nesting of bencoded lists and dictionaries. A torrent
// needs five levels (torrent, info, files, file, path); the margin leaves
// room for extensions while keeping recursion shallow.
const maxDepth = 32

// Kind is the type of a bencoded value.
type Kind uint8

const (
	Invalid Kind = iota
	Int
	String
	List
	Dict
)

func (k Kind) String() string {
	switch k {
	case Int:
		return "integer"
	case String:
		return "string"
	case List:
		return "list"
	case Dict:
		return "dictionary"
	}
	return "invalid"
}

// Value is the exact bytes of one bencoded value that Decode has
// already validated. Accessors decode lazily, so decoding allocates
// nothing per value and hostile input cannot amplify memory use.
type Value []byte

// Decode validates that data is exactly one strict bencoded value:
// canonical integers, strings within the input, bounded nesting, string
// keys without duplicates (any order), no trailing data.
func Decode(data []byte) (Value, error) {
	end, err := check(data, 0, 0)
	if err != nil {
		return nil, err
	}
	if end != len(data) {
		return nil, fmt.Errorf("bencode: offset %d: trailing data after value", end)
	}
	return Value(data), nil
}

func errAt(pos int, format string, args ...any) error {
	return fmt.Errorf("bencode: offset %d: %s", pos, fmt.Sprintf(format, args...))
}

// check validates the value at data[pos:] and returns the offset after it.
func check(data []byte, pos, depth int) (int, error) {
	if pos >= len(data) {
		return 0, errAt(pos, "unexpected end of input")
	}
	switch c := data[pos]; {
	case c == 'i':
		_, end, err := integer(data, pos+1, 'e')
		return end, err
	case c >= '0' && c <= '9':
		_, end, err := str(data, pos)
		return end, err
	case c == 'l' || c == 'd':
		if depth >= maxDepth {
			return 0, errAt(pos, "nesting deeper than %d", maxDepth)
		}
		if c == 'l' {
			return checkList(data, pos+1, depth+1)
		}
		return checkDict(data, pos+1, depth+1)
	default:
		return 0, errAt(pos, "unexpected byte %q", c)
	}
}

func checkList(data []byte, pos, depth int) (int, error) {
	for {
		if pos >= len(data) {
			return 0, errAt(pos, "unexpected end of input")
		}
		if data[pos] == 'e' {
			return pos + 1, nil
		}
		var err error
		if pos, err = check(data, pos, depth); err != nil {
			return 0, err
		}
	}
}

func checkDict(data []byte, pos, depth int) (int, error) {
	first := pos
	var prev []byte
	sorted := true
	for n := 0; ; n++ {
		if pos >= len(data) {
			return 0, errAt(pos, "unexpected end of input")
		}
		if data[pos] == 'e' {
			pos++
			break
		}
		if c := data[pos]; c < '0' || c > '9' {
			return 0, errAt(pos, "dictionary key is not a string")
		}
		key, end, err := str(data, pos)
		if err != nil {
			return 0, err
		}
		if n > 0 {
			switch bytes.Compare(key, prev) {
			case 0:
				return 0, errAt(pos, "duplicate dictionary key %q", key)
			case -1:
				sorted = false
			}
		}
		prev = key
		if pos, err = check(data, end, depth); err != nil {
			return 0, err
		}
	}
	if !sorted {
		// Rare: collect the keys (now known valid) to look for duplicates.
		var keys [][]byte
		for p := first; data[p] != 'e'; {
			k, vstart, _ := str(data, p)
			keys = append(keys, k)
			p = skipAt(data, vstart)
		}
		slices.SortFunc(keys, bytes.Compare)
		for i := 1; i < len(keys); i++ {
			if bytes.Equal(keys[i], keys[i-1]) {
				return 0, fmt.Errorf("bencode: duplicate dictionary key %q", keys[i])
			}
		}
	}
	return pos, nil
}

// skipAt returns the offset after the value at data[pos:], which check
// has already validated; it allocates nothing.
func skipAt(data []byte, pos int) int {
	switch c := data[pos]; {
	case c == 'i':
		return pos + bytes.IndexByte(data[pos:], 'e') + 1
	case c == 'l' || c == 'd':
		pos++
		for data[pos] != 'e' {
			pos = skipAt(data, pos)
		}
		return pos + 1
	default:
		_, end, _ := str(data, pos)
		return end
	}
}

// integer reads a canonical decimal integer at data[pos:] terminated by
// end: no leading zeros, no "-0", no "+", within int64.
func integer(data []byte, pos int, end byte) (int64, int, error) {
	start := pos
	neg := pos < len(data) && data[pos] == '-'
	if neg {
		pos++
	}
	digits := pos
	var n uint64
	for pos < len(data) && data[pos] >= '0' && data[pos] <= '9' {
		if n > (1<<63)/10 {
			return 0, 0, errAt(pos, "integer overflows int64")
		}
		n = n*10 + uint64(data[pos]-'0')
		pos++
	}
	nd := pos - digits
	switch {
	case pos >= len(data):
		return 0, 0, errAt(pos, "unexpected end of input")
	case data[pos] != end:
		return 0, 0, errAt(pos, "unexpected byte %q in integer", data[pos])
	case nd == 0:
		return 0, 0, errAt(pos, "integer has no digits")
	case nd > 1 && data[digits] == '0':
		return 0, 0, errAt(start, "integer %q has a leading zero", data[start:pos])
	case neg && n == 0:
		return 0, 0, errAt(start, "negative zero")
	case n > 1<<63 || (!neg && n == 1<<63):
		return 0, 0, errAt(start, "integer overflows int64")
	}
	if neg {
		return -int64(n-1) - 1, pos + 1, nil
	}
	return int64(n), pos + 1, nil
}

// str reads a string at data[pos:] and returns its bytes and the offset
// after it.
func str(data []byte, pos int) ([]byte, int, error) {
	n, start, err := integer(data, pos, ':')
	if err != nil {
		return nil, 0, err
	}
	if n < 0 || n > int64(len(data)-start) {
		return nil, 0, errAt(pos, "string length %d exceeds remaining input", n)
	}
	end := start + int(n)
	return data[start:end:end], end, nil
}

// Kind returns the value's type, Invalid for an empty Value.
func (v Value) Kind() Kind {
	if len(v) == 0 {
		return Invalid
	}
	switch c := v[0]; {
	case c == 'i':
		return Int
	case c >= '0' && c <= '9':
		return String
	case c == 'l':
		return List
	case c == 'd':
		return Dict
	}
	return Invalid
}

// Int returns an integer's value.
func (v Value) Int() int64 {
	n, _, _ := integer(v, 1, 'e')
	return n
}

// Bytes returns a string's bytes, aliasing v.
func (v Value) Bytes() []byte {
	s, _, _ := str(v, 0)
	return s
}

// Items yields the index and bytes of each element of a list.
func (v Value) Items() iter.Seq2[int, Value] {
	return func(yield func(int, Value) bool) {
		if v.Kind() != List {
			return
		}
		for i, pos := 0, 1; v[pos] != 'e'; i++ {
			end := skipAt(v, pos)
			if !yield(i, v[pos:end:end]) {
				return
			}
			pos = end
		}
	}
}

// Len returns the number of elements of a list.
func (v Value) Len() int {
	n := 0
	for range v.Items() {
		n++
	}
	return n
}

// Get returns the value stored under key in a dictionary, or nil.
func (v Value) Get(key string) Value {
	if v.Kind() != Dict {
		return nil
	}
	for pos := 1; v[pos] != 'e'; {
		k, vstart, _ := str(v, pos)
		end := skipAt(v, vstart)
		if string(k) == key {
			return v[vstart:end:end]
		}
		pos = end
	}
	return nil
}

// DecodePrefix validates the single value at the start of data and returns
// it with the bytes that follow it (BEP 9 data messages carry raw bytes
// after a dictionary).
func DecodePrefix(data []byte) (Value, []byte, error) {
	end, err := check(data, 0, 0)
	if err != nil {
		return nil, nil, err
	}
	return Value(data[:end:end]), data[end:], nil
}

// Pairs yields each key and value of a dictionary, in input order.
func (v Value) Pairs() iter.Seq2[[]byte, Value] {
	return func(yield func([]byte, Value) bool) {
		if v.Kind() != Dict {
			return
		}
		for pos := 1; v[pos] != 'e'; {
			k, vstart, _ := str(v, pos)
			end := skipAt(v, vstart)
			if !yield(k, v[vstart:end:end]) {
				return
			}
			pos = end
		}
	}
}

// Text returns a string value's bytes as a Go string, and whether v is a
// string.
func (v Value) Text() (string, bool) {
	if v.Kind() != String {
		return "", false
	}
	return string(v.Bytes()), true
}
