package metainfo

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/bencode"
)

func TestEncode(t *testing.T) {
	data := []byte(enc(dict{
		{"info", multiInfo()},
		{"announce-list", []any{[]any{"http://127.0.0.1:1/a"}, []any{}}},
		{"announce", "http://127.0.0.1:1/a"},
		{"x-extra", "dropped"},
		{"creation date", 1700000000},
		{"created by", "hand"},
		{"comment", "c"},
	}))
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	top, err := bencode.Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range top.Pairs() {
		keys = append(keys, string(k))
	}
	want := []string{"announce", "announce-list", "comment", "created by", "creation date", "info"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %q, want %q", keys, want)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("Parse(Encode()) = %+v\nwant %+v", back, m)
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		info []byte
	}{
		{"nil", nil},
		{"not a dict", []byte("i1e")},
		{"garbage", []byte("d4:name")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &MetaInfo{InfoBytes: tt.info, CreationDate: time.Unix(1, 0)}
			if _, err := m.Encode(); err == nil || !strings.Contains(err.Error(), "info bytes") {
				t.Fatalf("Encode error = %v", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.torrent")
	writeFile(t, good, torrentWith(singleInfo()))
	m, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if m.Info.Name != "movie.mkv" {
		t.Errorf("Name = %q", m.Info.Name)
	}

	bad := filepath.Join(dir, "bad.torrent")
	writeFile(t, bad, []byte("de"))
	big := filepath.Join(dir, "big.torrent")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{bad, "info: missing"},
		{big, "larger than"},
		{filepath.Join(dir, "missing.torrent"), "no such file"},
	} {
		_, err := Load(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) error = %v, want the path and %q", tt.path, err, tt.want)
		}
	}
}
