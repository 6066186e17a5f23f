package metainfo

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	s, m := singleInfo(), multiInfo()
	files := func(fs ...any) dict { return m.set("files", fs) }
	file := func(length any, path any) dict { return dict{{"length", length}, {"path", path}} }
	valid := torrentWith(s)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty input", nil, "end of input"},
		{"not a dict", []byte("i1e"), "torrent: want dictionary, got integer"},
		{"list", []byte("le"), "torrent: want dictionary, got list"},
		{"trailing garbage", append(append([]byte(nil), valid...), 'x'), "trailing data"},
		{"two values", append(append([]byte(nil), valid...), valid...), "trailing data"},
		{"truncated", valid[:len(valid)-1], "end of input"},
		{"missing info", []byte(enc(dict{{"announce", "x"}})), "info: missing"},
		{"info not dict", torrentWith("x"), "info: want dictionary, got string"},
		{"missing name", torrentWith(s.set("name", nil)), "info.name: missing"},
		{"name int", torrentWith(s.set("name", 5)), "info.name: want string, got integer"},
		{"name empty", torrentWith(s.set("name", "")), "info.name: empty path component"},
		{"name dotdot", torrentWith(s.set("name", "..")), `info.name: path component ".."`},
		{"name dot", torrentWith(s.set("name", ".")), `info.name: path component "."`},
		{"name slash", torrentWith(s.set("name", "a/b")), "info.name: path component"},
		{"name backslash", torrentWith(s.set("name", `a\b`)), "info.name: path component"},
		{"name nul", torrentWith(s.set("name", "a\x00b")), "info.name: path component"},
		{"missing piece length", torrentWith(s.set("piece length", nil)), "info.piece length: missing"},
		{"piece length string", torrentWith(s.set("piece length", "16384")), "info.piece length: want integer, got string"},
		{"piece length zero", torrentWith(s.set("piece length", 0)), "metainfo: info.piece length: must be positive, got 0"},
		{"piece length negative", torrentWith(s.set("piece length", -16384)), "info.piece length: must be positive, got -16384"},
		{"piece length absurd", torrentWith(s.set("piece length", 1<<31)), "info.piece length: 2147483648 is more than"},
		{"missing pieces", torrentWith(s.set("pieces", nil)), "info.pieces: missing"},
		{"pieces int", torrentWith(s.set("pieces", 3)), "info.pieces: want string, got integer"},
		{"pieces 41", torrentWith(s.set("pieces", hashes(2)+"x")), "info.pieces: length 41 is not a multiple of 20"},
		{"too few pieces", torrentWith(s.set("pieces", hashes(2))), "info.pieces: 2 hashes for 40000 bytes in pieces of 16384, want 3"},
		{"too many pieces", torrentWith(s.set("pieces", hashes(4))), "info.pieces: 4 hashes"},
		{"no length or files", torrentWith(s.set("length", nil)), "info: missing both length and files"},
		{"length and files", torrentWith(s.set("files", []any{file(1, []string{"a"})})), "info: has both length and files"},
		{"length string", torrentWith(s.set("length", "1")), "info.length: want integer, got string"},
		{"length negative", torrentWith(s.set("length", -1)), "info.length: -1 out of range"},
		{"length absurd", torrentWith(s.set("length", int64(1<<50+1))), "info.length: 1125899906842625 out of range"},
		{"no data single", torrentWith(s.set("length", 0).set("pieces", "")), "info: torrent has no data"},
		{"no data multi", torrentWith(files(file(0, []string{"a"}), file(0, []string{"b"})).set("pieces", "")), "info: torrent has no data"},
		{"files empty", torrentWith(files()), "info.files: empty list"},
		{"files not list", torrentWith(m.set("files", "a")), "info.files: want list, got string"},
		{"file not dict", torrentWith(files(5)), "info.files[0]: want dictionary, got integer"},
		{"file missing length", torrentWith(files(dict{{"path", []string{"a"}}})), "info.files[0].length: missing"},
		{"file length string", torrentWith(files(file("1", []string{"a"}))), "info.files[0].length: want integer"},
		{"file length negative", torrentWith(files(file(5, []string{"a"}), file(-1, []string{"b"}))), "info.files[1].length: -1 out of range"},
		{"file missing path", torrentWith(files(dict{{"length", 1}})), "info.files[0].path: missing"},
		{"path not list", torrentWith(files(file(1, "a"))), "info.files[0].path: want list, got string"},
		{"path empty list", torrentWith(files(file(1, []string{}))), "info.files[0].path: empty list"},
		{"path component int", torrentWith(files(file(1, []any{"a", 7}))), "info.files[0].path[1]: want string, got integer"},
		{"path component empty", torrentWith(files(file(1, []string{"a", ""}))), "info.files[0].path[1]: empty path component"},
		{"path component dot", torrentWith(files(file(1, []string{"."}))), `info.files[0].path[0]: path component "."`},
		{"path component dotdot", torrentWith(files(file(1, []string{"..", "etc"}))), `info.files[0].path[0]: path component ".."`},
		{"path component slash", torrentWith(files(file(1, []string{"a/b"}))), "info.files[0].path[0]: path component"},
		{"path component backslash", torrentWith(files(file(1, []string{`..\x`}))), "info.files[0].path[0]: path component"},
		{"path component nul", torrentWith(files(file(1, []string{"a\x00"}))), "info.files[0].path[0]: path component"},
		{"path too deep", torrentWith(files(file(1, strings.Split(strings.Repeat("a/", 1024)+"a", "/")))), "info.files[0].path: 1025 components, more than 1024"},
		{"duplicate path", torrentWith(files(file(1, []string{"a", "b"}), file(1, []string{"a", "b"}))), `info.files[1].path: duplicate file "a/b"`},
		{"file then dir", torrentWith(files(file(1, []string{"a"}), file(1, []string{"a", "b"}))), `info.files[1].path: directory "a" is also a file`},
		{"dir then file", torrentWith(files(file(1, []string{"a", "b", "c"}), file(1, []string{"a", "b"}))), `info.files[1].path: file "a/b" is also a directory`},
		{"total absurd", torrentWith(files(file(int64(1<<50), []string{"a"}), file(1, []string{"b"}))), "info.files: total length is more than"},
		{"announce int", []byte(enc(dict{{"announce", 1}, {"info", s}})), "announce: want string, got integer"},
		{"announce-list string", []byte(enc(dict{{"announce-list", "x"}, {"info", s}})), "announce-list: want list, got string"},
		{"announce-list tier string", []byte(enc(dict{{"announce-list", []any{"x"}}, {"info", s}})), "announce-list[0]: want list, got string"},
		{"announce-list url int", []byte(enc(dict{{"announce-list", []any{[]any{"x", 1}}}, {"info", s}})), "announce-list[0][1]: want string, got integer"},
		{"private string", torrentWith(s.set("private", "1")), "info.private: want integer, got string"},
		// Bencode strictness.
		{"int leading zero", torrentWith(s.set("length", raw("i040000e"))), "leading zero"},
		{"int negative zero", torrentWith(s.set("private", raw("i-0e"))), "negative zero"},
		{"int empty", torrentWith(s.set("private", raw("ie"))), "no digits"},
		{"int plus", torrentWith(s.set("private", raw("i+1e"))), "unexpected byte"},
		{"int overflow", torrentWith(s.set("private", raw("i9223372036854775808e"))), "overflows"},
		{"int huge", torrentWith(s.set("private", raw("i99999999999999999999999e"))), "overflows"},
		{"string length leading zero", []byte("d04:infoi1ee"), "leading zero"},
		{"string beyond input", []byte("d4:info999999999999:e"), "exceeds remaining input"},
		{"string length overflow", []byte("d4:info99999999999999999999999:e"), "overflows"},
		{"negative string length", []byte("d4:info-1:xe"), "unexpected byte"},
		{"key not string", []byte("di1ei2ee"), "key is not a string"},
		{"duplicate key sorted", []byte(enc(dict{{"info", s}, {"info", s}})), `duplicate dictionary key "info"`},
		{"duplicate key unsorted", []byte(enc(dict{{"info", s}, {"announce", "x"}, {"info", s}})), `duplicate dictionary key "info"`},
		{"duplicate key in info", torrentWith(append(s.sorted(), kv{"name", "x"})), `duplicate dictionary key "name"`},
		{"deep nesting", []byte("d1:x" + strings.Repeat("l", 100) + strings.Repeat("e", 100) + "4:info" + enc(s) + "e"), "nesting deeper"},
		{"bad byte", []byte("x"), "unexpected byte 'x'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error containing %q", m.Info, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %q, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "metainfo: ") {
				t.Errorf("error %q lacks the metainfo: prefix", err)
			}
		})
	}
}

func TestParseSingleFile(t *testing.T) {
	info := singleInfo().set("private", 1)
	data := []byte(enc(dict{
		{"announce", "http://127.0.0.1:1/announce"},
		{"comment", "hello"},
		{"created by", "hand"},
		{"creation date", 1700000000},
		{"info", info},
	}))
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{
		Name: "movie.mkv", PieceLength: 16384, Private: true, Length: 40000,
		Files: []File{{Path: []string{"movie.mkv"}, Length: 40000}},
	}
	pieces := hashes(3)
	for i := range 3 {
		var h [20]byte
		copy(h[:], pieces[i*20:])
		want.Pieces = append(want.Pieces, h)
	}
	if !reflect.DeepEqual(m.Info, want) {
		t.Errorf("Info = %+v\nwant %+v", m.Info, want)
	}
	if m.Announce != "http://127.0.0.1:1/announce" || m.Comment != "hello" || m.CreatedBy != "hand" {
		t.Errorf("announce/comment/created by = %q %q %q", m.Announce, m.Comment, m.CreatedBy)
	}
	if !m.CreationDate.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("CreationDate = %v", m.CreationDate)
	}
	if m.Info.NumPieces() != 3 || m.Info.MultiFile {
		t.Errorf("NumPieces = %d, MultiFile = %v", m.Info.NumPieces(), m.Info.MultiFile)
	}
	if got := m.Trackers(); !reflect.DeepEqual(got, [][]string{{"http://127.0.0.1:1/announce"}}) {
		t.Errorf("Trackers = %q", got)
	}
}

func TestParseMultiFile(t *testing.T) {
	m, err := Parse(torrentWith(multiInfo()))
	if err != nil {
		t.Fatal(err)
	}
	want := []File{
		{Path: []string{"a", "b", "c.bin"}, Length: 20000, Offset: 0},
		{Path: []string{"a", "empty"}, Length: 0, Offset: 20000},
		{Path: []string{".pad", "12768"}, Length: 12768, Offset: 20000, Padding: true},
		{Path: []string{"z"}, Length: 1, Offset: 32768},
	}
	if !reflect.DeepEqual(m.Info.Files, want) {
		t.Errorf("Files = %+v\nwant %+v", m.Info.Files, want)
	}
	if !m.Info.MultiFile || m.Info.Name != "dir" || m.Info.Length != 32769 || m.Info.NumPieces() != 3 {
		t.Errorf("Info = %+v", m.Info)
	}
}

func TestParseAccepts(t *testing.T) {
	pad := dict{{"attr", "p"}, {"length", 1}, {"path", []string{".pad", "1"}}}
	tests := []struct {
		name  string
		info  dict
		check func(t *testing.T, i Info)
	}{
		{"name.utf-8 preferred", singleInfo().set("name.utf-8", "película"), func(t *testing.T, i Info) {
			if i.Name != "película" || i.Files[0].Path[0] != "película" {
				t.Errorf("name = %q, path = %q", i.Name, i.Files[0].Path)
			}
		}},
		{"invalid name.utf-8 ignored", singleInfo().set("name.utf-8", ".."), func(t *testing.T, i Info) {
			if i.Name != "movie.mkv" {
				t.Errorf("name = %q", i.Name)
			}
		}},
		{"bad utf-8 in name.utf-8 ignored", singleInfo().set("name.utf-8", "\xff"), func(t *testing.T, i Info) {
			if i.Name != "movie.mkv" {
				t.Errorf("name = %q", i.Name)
			}
		}},
		{"path.utf-8 preferred", multiInfo().set("files", []any{dict{{"length", 32769}, {"path", []string{"x"}}, {"path.utf-8", []string{"ü", "y"}}}}), func(t *testing.T, i Info) {
			if !reflect.DeepEqual(i.Files[0].Path, []string{"ü", "y"}) {
				t.Errorf("path = %q", i.Files[0].Path)
			}
		}},
		{"invalid path.utf-8 ignored", multiInfo().set("files", []any{dict{{"length", 32769}, {"path", []string{"x"}}, {"path.utf-8", []string{".."}}}}), func(t *testing.T, i Info) {
			if !reflect.DeepEqual(i.Files[0].Path, []string{"x"}) {
				t.Errorf("path = %q", i.Files[0].Path)
			}
		}},
		{"repeated padding paths", multiInfo().set("files", []any{pad, dict{{"length", 32767}, {"path", []string{"x"}}}, pad}), func(t *testing.T, i Info) {
			if len(i.Files) != 3 || !i.Files[2].Padding || i.Files[2].Offset != 32768 {
				t.Errorf("files = %+v", i.Files)
			}
		}},
		{"private 0", singleInfo().set("private", 0), func(t *testing.T, i Info) {
			if i.Private {
				t.Error("Private = true")
			}
		}},
		{"unsorted info keys and unknown keys", dict{{"pieces", hashes(3)}, {"x-unknown", []any{1, dict{}}}, {"name", "n"}, {"length", 40000}, {"piece length", 16384}}, func(t *testing.T, i Info) {
			if i.Name != "n" || i.Length != 40000 {
				t.Errorf("info = %+v", i)
			}
		}},
		{"single-file padding attr", singleInfo().set("attr", "hp"), func(t *testing.T, i Info) {
			if !i.Files[0].Padding {
				t.Error("Padding = false")
			}
		}},
		{"piece length not power of two", singleInfo().set("piece length", 40000).set("pieces", hashes(1)), func(t *testing.T, i Info) {
			if i.NumPieces() != 1 || i.Layout().PieceSize(0) != 40000 {
				t.Errorf("info = %+v", i)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(torrentWith(tt.info))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, m.Info)
		})
	}
}

// TestInfoHash checks the hash is over the info value's exact bytes, even
// with unsorted outer keys, unknown keys before and after, and mistyped
// optional fields.
func TestInfoHash(t *testing.T) {
	infoEnc := enc(multiInfo())
	data := []byte(enc(dict{
		{"zzz", dict{{"info", "decoy"}}},
		{"info", raw(infoEnc)},
		{"announce", "http://127.0.0.1:1/a"},
		{"comment", 5},
		{"creation date", "yesterday"},
	}))
	i := bytes.Index(data, []byte("4:infod"))
	if i < 0 {
		t.Fatal("no 4:infod in test data")
	}
	span := data[i+len("4:info") : i+len("4:info")+len(infoEnc)]
	if string(span) != infoEnc {
		t.Fatal("test data does not hold the info dictionary where expected")
	}
	want := sha1.Sum(span)
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.InfoHash != want {
		t.Errorf("InfoHash = %x, want %x", m.InfoHash, want)
	}
	if m.HexHash() != hex.EncodeToString(want[:]) {
		t.Errorf("HexHash = %s", m.HexHash())
	}
	if !bytes.Equal(m.InfoBytes, span) {
		t.Errorf("InfoBytes differ from the input span")
	}
	if m.Comment != "" || !m.CreationDate.IsZero() {
		t.Errorf("mistyped optional fields not ignored: %q %v", m.Comment, m.CreationDate)
	}
	// A non-canonical (unsorted) info dictionary is hashed as is, not re-encoded.
	unsorted := enc(dict{{"pieces", hashes(3)}, {"name", "n"}, {"piece length", 16384}, {"length", 40000}})
	m, err = Parse(torrentWith(raw(unsorted)))
	if err != nil {
		t.Fatal(err)
	}
	if m.InfoHash != sha1.Sum([]byte(unsorted)) {
		t.Errorf("unsorted info: InfoHash = %x, want sha1 of the raw bytes", m.InfoHash)
	}
}

func TestTrackers(t *testing.T) {
	tests := []struct {
		name     string
		announce string
		list     [][]string
		want     [][]string
	}{
		{"none", "", nil, nil},
		{"announce only", "http://a", nil, [][]string{{"http://a"}}},
		{"list wins", "http://a", [][]string{{"http://b", "http://c"}, {"http://d"}}, [][]string{{"http://b", "http://c"}, {"http://d"}}},
		{"empty list falls back", "http://a", [][]string{}, [][]string{{"http://a"}}},
		{"list of empty tiers falls back", "http://a", [][]string{{}, {""}}, [][]string{{"http://a"}}},
		{"cleaned", "", [][]string{{"", "http://b"}, {}, {"http://b", "udp://c"}, {"udp://c"}}, [][]string{{"http://b"}, {"udp://c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &MetaInfo{Announce: tt.announce, AnnounceList: tt.list}
			if got := m.Trackers(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Trackers() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	s := singleInfo()
	urls := make([]any, maxTrackers+1)
	tiers := make([]any, maxTrackers+1)
	for i := range urls {
		urls[i] = "u"
		tiers[i] = []any{}
	}
	for _, tt := range []struct {
		name string
		list []any
		want string
	}{
		{"too many URLs", []any{urls}, "announce-list: more than 10000 URLs"},
		{"too many tiers", tiers, "announce-list: more than 10000 tiers"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(enc(dict{{"announce-list", tt.list}, {"info", s}})))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestParseMemory checks that many tiny values cost no memory per value:
// hostile input must not be able to amplify its size in allocations.
func TestParseMemory(t *testing.T) {
	junk := "l" + strings.Repeat("i0e", 1<<20) + "e"
	for _, tt := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"unknown key", []byte(enc(dict{{"info", singleInfo()}, {"x", raw(junk)}})), true},
		{"files of integers", torrentWith(multiInfo().set("files", raw(junk))), false},
		{"announce-list of integers", []byte(enc(dict{{"announce-list", []any{raw(junk)}}, {"info", singleInfo()}})), false},
		{"path of integers", torrentWith(multiInfo().set("files", []any{dict{{"length", 1}, {"path", raw(junk)}}})), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Parse(tt.data)
			runtime.ReadMemStats(&after)
			if (err == nil) != tt.ok {
				t.Fatalf("Parse error = %v, want ok=%v", err, tt.ok)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > uint64(len(tt.data)) {
				t.Errorf("Parse allocated %d bytes for %d bytes of input", got, len(tt.data))
			}
		})
	}
}
