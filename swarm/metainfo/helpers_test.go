package metainfo

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// kv and dict let tests write bencode with keys in any order, including
// unsorted and duplicated keys, which a map-based encoder cannot express.
type kv struct {
	k string
	v any
}

type dict []kv

// enc is an independent, deliberately naive bencode encoder for tests.
func enc(v any) string {
	switch v := v.(type) {
	case int:
		return fmt.Sprintf("i%de", v)
	case int64:
		return fmt.Sprintf("i%de", v)
	case string:
		return fmt.Sprintf("%d:%s", len(v), v)
	case []any:
		var b strings.Builder
		b.WriteString("l")
		for _, e := range v {
			b.WriteString(enc(e))
		}
		return b.String() + "e"
	case []string:
		l := make([]any, len(v))
		for i := range v {
			l[i] = v[i]
		}
		return enc(l)
	case dict:
		var b strings.Builder
		b.WriteString("d")
		for _, e := range v {
			b.WriteString(enc(e.k) + enc(e.v))
		}
		return b.String() + "e"
	case raw:
		return string(v)
	}
	panic(fmt.Sprintf("enc: unsupported %T", v))
}

// raw is inserted verbatim by enc.
type raw string

// sorted returns d with keys sorted, as a canonical encoder would.
func (d dict) sorted() dict {
	out := append(dict(nil), d...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].k < out[j].k })
	return out
}

// set returns a copy of d with key set to v (appended if absent); a nil v
// deletes the key.
func (d dict) set(k string, v any) dict {
	out := dict{}
	found := false
	for _, e := range d {
		if e.k == k {
			found = true
			if v != nil {
				out = append(out, kv{k, v})
			}
			continue
		}
		out = append(out, e)
	}
	if !found && v != nil {
		out = append(out, kv{k, v})
	}
	return out.sorted()
}

// hashes returns n distinct fake 20-byte piece hashes.
func hashes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%020d", i)
	}
	return b.String()
}

func singleInfo() dict {
	return dict{
		{"length", 40000},
		{"name", "movie.mkv"},
		{"piece length", 16384},
		{"pieces", hashes(3)},
	}
}

func multiInfo() dict {
	return dict{
		{"files", []any{
			dict{{"length", 20000}, {"path", []string{"a", "b", "c.bin"}}},
			dict{{"length", 0}, {"path", []string{"a", "empty"}}},
			dict{{"attr", "p"}, {"length", 12768}, {"path", []string{".pad", "12768"}}},
			dict{{"length", 1}, {"path", []string{"z"}}},
		}},
		{"name", "dir"},
		{"piece length", 16384},
		{"pieces", hashes(3)},
	}
}

func torrentWith(info any) []byte {
	return []byte(enc(dict{{"announce", "http://127.0.0.1:1/announce"}, {"info", info}}))
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
