package metadata

import (
	"bytes"
	"crypto/sha1"
	"reflect"
	"slices"
	"testing"

	"github.com/btfs/btfs/swarm/wire"
)

func FuzzMsg(f *testing.F) {
	info := testInfo(2*PieceSize + 7)
	for _, m := range []Msg{
		{Type: Request, Piece: 1},
		{Type: Reject, Piece: 2},
		Serve(info, Msg{Type: Request, Piece: 0}),
		Serve(info, Msg{Type: Request, Piece: 2}),
		{Type: Data, Piece: 2, TotalSize: 2*PieceSize + 7, Data: []byte("d1:ae")}, // wrong bytes
	} {
		b, err := m.AppendBinary(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("d8:msg_typei1e5:piecei0e10:total_sizei5eed1:ae"))
	f.Add([]byte("d8:msg_typei9e5:piecei0ee"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMsg(data)
		if err == nil {
			if m.Piece < 0 || m.Piece >= MaxPieces || len(m.Data) > PieceSize ||
				m.Type == Data && (m.TotalSize <= 0 || m.TotalSize > wire.MaxMetadataSize || len(m.Data) != pieceLen(m.TotalSize, m.Piece)) {
				t.Fatalf("bounds broken: %+.60v", m)
			}
			enc, err := m.AppendBinary(nil)
			if err != nil {
				t.Fatalf("re-encode %+.60v: %v", m, err)
			}
			back, err := ParseMsg(enc)
			if err != nil || !reflect.DeepEqual(back, m) {
				t.Fatalf("re-parsed %+.60v, %v; want %+.60v", back, err, m)
			}
		}

		// Whatever a peer sends, the Fetcher neither panics nor accepts
		// the wrong bytes.
		fe := NewFetcher[int](sha1.Sum(info))
		size := len(info)
		if m.Type == Data && m.TotalSize > 0 {
			size = m.TotalSize // the peer claims what it sends
		}
		if fe.AddPeer(1, size) != nil || fe.AddPeer(2, len(info)) != nil {
			t.Fatal("AddPeer refused a valid size")
		}
		for _, k := range []int{1, 1, 2, 2} {
			fe.Next(k, t0)
		}
		check := func(res Result[int]) {
			t.Helper()
			if res.Done && !bytes.Equal(res.Info, info) {
				t.Fatalf("accepted wrong info %q", res.Info)
			}
			// Only the fuzzed peer can make an attempt fail.
			if res.Bad != nil && !slices.Contains(res.Bad, 1) {
				t.Fatalf("bad peers %v", res.Bad)
			}
		}
		res, err := fe.Data(1, m)
		if err != nil {
			return
		}
		check(res)
		// The honest peer carries on without error.
		for range 2 * MaxPieces {
			piece, ok := fe.Next(2, t0)
			if !ok {
				break
			}
			res, err := fe.Data(2, Serve(info, Msg{Type: Request, Piece: piece}))
			if err != nil {
				t.Fatalf("honest data: %v", err)
			}
			check(res)
		}
	})
}
