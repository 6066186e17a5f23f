package metainfo

import (
	"crypto/sha1"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/btfs/btfs/swarm/bencode"
)

// infoOf returns the raw info dictionary of a .torrent in testdata.
func infoOf(t *testing.T, name string) []byte {
	t.Helper()
	top, err := bencode.Decode(seeds(t)[name])
	if err != nil {
		t.Fatal(err)
	}
	return top.Get("info")
}

func TestFromInfo(t *testing.T) {
	for name, data := range seeds(t) {
		t.Run(name, func(t *testing.T) {
			want, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			buf := append([]byte(nil), infoOf(t, name)...)
			mg := &Magnet{InfoHash: want.InfoHash, Name: "ignored", Trackers: []string{"udp://a:1", "http://b/ann"}}
			m, err := FromInfo(want.InfoHash, buf, mg)
			if err != nil {
				t.Fatal(err)
			}
			clear(buf) // the caller may reuse its buffer
			if m.InfoHash != want.InfoHash || !reflect.DeepEqual(m.InfoBytes, want.InfoBytes) || !reflect.DeepEqual(m.Info, want.Info) {
				t.Fatalf("FromInfo differs from Parse: %+v\nwant info %+v", m, want.Info)
			}
			if m.Announce != "udp://a:1" || !reflect.DeepEqual(m.AnnounceList, [][]string{{"udp://a:1"}, {"http://b/ann"}}) {
				t.Fatalf("announce %q, announce-list %q", m.Announce, m.AnnounceList)
			}
			checkInvariants(t, m) // includes Parse(Encode()) keeping the info-hash and the tiers
			if got := m.Magnet(); got.InfoHash != want.InfoHash || !reflect.DeepEqual(got.Trackers, mg.Trackers) {
				t.Fatalf("Magnet() = %+v", got)
			}
		})
	}
}

func TestFromInfoWithoutTrackers(t *testing.T) {
	info := infoOf(t, "single-mktorrent.torrent")
	for _, mg := range []*Magnet{nil, {InfoHash: sha1.Sum(info)}} {
		m, err := FromInfo(sha1.Sum(info), info, mg)
		if err != nil {
			t.Fatal(err)
		}
		if m.Announce != "" || m.AnnounceList != nil || m.Trackers() != nil {
			t.Fatalf("trackers from nothing: %q %q", m.Announce, m.AnnounceList)
		}
		checkInvariants(t, m)
	}
}

func TestFromInfoErrors(t *testing.T) {
	info := infoOf(t, "single-mktorrent.torrent")
	hash := sha1.Sum(info)
	wrong := hash
	wrong[0] ^= 1
	badInfo := []byte(enc(singleInfo().set("pieces", hashes(2))))
	for _, tt := range []struct {
		name string
		hash [20]byte
		info []byte
		mg   *Magnet
		want string
	}{
		{"wrong hash", wrong, info, nil, "hash mismatch: SHA-1 is " + hex.EncodeToString(hash[:])},
		{"magnet for another torrent", hash, info, &Magnet{InfoHash: wrong}, "magnet link is for info-hash"},
		{"not bencode", sha1.Sum([]byte("d4:name")), []byte("d4:name"), nil, "bencode"},
		{"not a dictionary", sha1.Sum([]byte("i1e")), []byte("i1e"), nil, "info: want dictionary, got integer"},
		{"invalid info", sha1.Sum(badInfo), badInfo, nil, "info.pieces: 2 hashes"},
		{"empty", sha1.Sum(nil), nil, nil, "bencode"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := FromInfo(tt.hash, tt.info, tt.mg)
			if err == nil {
				t.Fatalf("got %+v, want error", m)
			}
			if !strings.HasPrefix(err.Error(), "metainfo: info dictionary for ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadSource(t *testing.T) {
	dir := t.TempDir()
	link := "magnet:?xt=urn:btih:" + testHex + "&dn=a+b&tr=udp%3A%2F%2Ft%3A1"
	torrent := seeds(t)["single-mktorrent.torrent"]
	want, err := Parse(torrent)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		content string
		magnet  bool // else a torrent
		err     string
	}{
		{"magnet with trailing newline", link + "\n", true, ""},
		{"magnet with CRLF and indentation", " \t" + link + "\r\n\r\n", true, ""},
		{"magnet with upper-case scheme", "MAGNET" + link[len("magnet"):], true, ""},
		{"torrent", string(torrent), false, ""},
		{"torrent with trailing newline", string(torrent) + "\n", false, "trailing data"},
		{"two magnet lines", link + "\n" + link + "\n", false, "magnet: control character '\\n' at offset"},
		{"bad magnet", "magnet:?xt=urn:btih:00\n", false, "magnet: xt \"urn:btih:00\": info-hash has 2 characters"},
		{"magnet too long", link + "&dn=" + strings.Repeat("x", maxMagnetLen), false, "magnet: link is"},
		{"empty", "", false, "bencode"},
		{"text", "not a torrent\n", false, "bencode"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			writeFile(t, path, []byte(tt.content))
			mi, mg, err := LoadSource(path)
			switch {
			case tt.err != "":
				if err == nil || mi != nil || mg != nil || !strings.HasPrefix(err.Error(), "metainfo: "+path+": ") ||
					!strings.Contains(err.Error(), tt.err) {
					t.Fatalf("LoadSource = %v, %v, %v; want an error about %s containing %q", mi, mg, err, path, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case tt.magnet:
				if mi != nil || mg == nil || mg.InfoHash != testHash(t) || mg.Name != "a b" || !reflect.DeepEqual(mg.Trackers, []string{"udp://t:1"}) {
					t.Fatalf("LoadSource = %+v, %+v", mi, mg)
				}
			default:
				if mg != nil || mi == nil || !reflect.DeepEqual(mi, want) {
					t.Fatalf("LoadSource = %+v, %+v", mi, mg)
				}
			}
		})
	}
	if _, _, err := LoadSource(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}
