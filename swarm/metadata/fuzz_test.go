package metadata

import (
	"bytes"
	"crypto/sha1"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/wire"
)

func FuzzMsg(f *testing.F) {
	info := testInfo(2*PieceSize + 7)
	for _, m := range []Msg{
		{Type: Request, Piece: 1},
		{Type: Reject, Piece: 2},
		Serve(info, Msg{Type: Request, Piece: 0}),
		Serve(info, Msg{Type: Request, Piece: 2}),
		{Type: Data, Piece: 2, TotalSize: 2*PieceSize + 7, Data: []byte("d1:ae")},            // wrong bytes
		{Type: Data, Piece: 0, TotalSize: 2*PieceSize + 7, Data: forge(info, 1)[:PieceSize]}, // a forged piece
		Serve(testInfo(PieceSize+100), Msg{Type: Request, Piece: 0}),                         // a piece of a smaller size
		Serve(testInfo(2*PieceSize+6), Msg{Type: Request, Piece: 1}),                         // of three pieces, not the first
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

		// Whatever a peer sends, the Fetcher neither panics, nor accepts
		// the wrong bytes, nor blames the honest peer; and the honest peer
		// completes the fetch, even when the fuzzed peer claimed another
		// size, sent a piece of it and stays: its attempt stalls.
		fe := NewFetcher[int](sha1.Sum(info))
		size := len(info)
		if m.Type == Data && m.TotalSize > 0 {
			size = m.TotalSize // the peer claims what it sends
		}
		if size > 1<<20 {
			// A huge claim costs a fetch a buffer of that size per
			// iteration and nothing else (the unit tests cover it); it
			// would only slow the fuzzer down.
			return
		}
		if fe.AddPeer(1, size) != nil || fe.AddPeer(2, len(info)) != nil {
			t.Fatal("AddPeer refused a valid size")
		}
		for _, k := range []int{1, 1, 2, 2} {
			fe.Next(k, t0)
		}
		done := false
		check := func(res Result[int]) {
			t.Helper()
			if res.Done && !bytes.Equal(res.Info, info) {
				t.Fatalf("accepted wrong info %q", res.Info)
			}
			if res.Bad != nil && !slices.Equal(res.Bad, []int{1}) {
				t.Fatalf("bad peers %v; only the fuzzed peer can be bad", res.Bad)
			}
			done = done || res.Done
		}
		res, err := fe.Data(1, m)
		if err != nil {
			return // the engine drops the peer; the honest one is then alone
		}
		check(res)
		// The fuzzed peer falls silent, then rejects whatever it is asked;
		// the honest peer answers.
		t1 := t0.Add(time.Minute)
		fe.Expire(t1, time.Second)
		for range 64 { // a few attempts of three pieces
			if done {
				return
			}
			asked := false
			if piece, ok := fe.Next(1, t1); ok {
				fe.Reject(1, piece)
				asked = true
			}
			piece, ok := fe.Next(2, t1)
			if !ok {
				if !asked {
					break
				}
				continue
			}
			res, err = fe.Data(2, Serve(info, Msg{Type: Request, Piece: piece}))
			if err != nil {
				t.Fatalf("honest data: %v", err)
			}
			check(res)
		}
		if !done {
			t.Fatal("the honest peer did not complete the fetch")
		}
	})
}
