package metainfo

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// TestMktorrent checks Parse against a torrent written by a real tool and
// checks that Build produces the same info dictionary for the same tree.
func TestMktorrent(t *testing.T) {
	tool, err := exec.LookPath("mktorrent")
	if err != nil {
		t.Skip("SKIPPING: mktorrent is not installed (apt-get install -y mktorrent); real-tool interop is NOT tested")
	}
	root, _, data := makeTree(t)
	for _, tt := range []struct {
		name string
		root string
		all  []byte
	}{
		{"directory", root, bytes.Join(data, nil)},
		{"single file", filepath.Join(root, "z", "deep", "er", "x"), data[len(data)-1]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.torrent")
			cmd := exec.Command(tool, "-l", "15", "-d", "-a", "http://127.0.0.1:1/announce", "-o", out, tt.root)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mktorrent: %v\n%s", err, msg)
			}
			m, err := Load(out)
			if err != nil {
				t.Fatal(err)
			}
			if m.Announce != "http://127.0.0.1:1/announce" || m.Info.PieceLength != 1<<15 {
				t.Errorf("announce %q, piece length %d", m.Announce, m.Info.PieceLength)
			}
			b, err := Build(context.Background(), tt.root, BuildOptions{PieceLength: 1 << 15})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Info.Files, b.Info.Files) {
				t.Fatalf("mktorrent files %+v\nBuild files %+v", m.Info.Files, b.Info.Files)
			}
			if m.Info.Length != int64(len(tt.all)) || m.Info.NumPieces() != b.Info.NumPieces() {
				t.Errorf("mktorrent: %d bytes, %d pieces; Build: %d pieces", m.Info.Length, m.Info.NumPieces(), b.Info.NumPieces())
			}
			checkPieces(t, m, tt.all)
			if !reflect.DeepEqual(m.Info.Pieces, b.Info.Pieces) {
				t.Error("piece hashes differ between mktorrent and Build")
			}
			// Both write canonical bencode with the same keys, so the
			// info dictionaries, and hence the info-hashes, are identical.
			if m.InfoHash != b.InfoHash {
				t.Errorf("info-hash: mktorrent %s, Build %s", m.HexHash(), b.HexHash())
			}
			roundTrip(t, m)
		})
	}
}
