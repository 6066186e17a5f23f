package metadata

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/btfs/btfs/swarm/wire"
)

func TestMsgRoundTrip(t *testing.T) {
	full := bytes.Repeat([]byte{'x'}, PieceSize)
	tests := []struct {
		name string
		msg  Msg
		enc  string
	}{
		// The examples of BEP 9.
		{"spec request", Msg{Type: Request}, "d8:msg_typei0e5:piecei0ee"},
		{"spec data", Msg{Type: Data, TotalSize: 34256, Data: full}, "d8:msg_typei1e5:piecei0e10:total_sizei34256ee" + string(full)},
		{"spec reject", Msg{Type: Reject}, "d8:msg_typei2e5:piecei0ee"},

		{"last piece", Msg{Type: Data, Piece: 2, TotalSize: 2*PieceSize + 3, Data: []byte("abc")}, "d8:msg_typei1e5:piecei2e10:total_sizei32771eeabc"},
		{"largest piece index", Msg{Type: Request, Piece: MaxPieces - 1}, "d8:msg_typei0e5:piecei2047ee"},
		{"largest total_size", Msg{Type: Data, Piece: MaxPieces - 1, TotalSize: wire.MaxMetadataSize, Data: full},
			"d8:msg_typei1e5:piecei2047e10:total_sizei33554432ee" + string(full)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.msg.AppendBinary([]byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "x"+tc.enc {
				t.Fatalf("AppendBinary = %.80q, want %.80q", got, "x"+tc.enc)
			}
			back, err := ParseMsg(got[1:])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.msg) {
				t.Fatalf("ParseMsg = %+.80v, want %+.80v", back, tc.msg)
			}
		})
	}
}

func TestParseMsgAliases(t *testing.T) {
	in := []byte("d8:msg_typei1e5:piecei0e10:total_sizei3eeabc")
	m, err := ParseMsg(in)
	if err != nil {
		t.Fatal(err)
	}
	in[len(in)-1] = 'z'
	if string(m.Data) != "abz" {
		t.Fatalf("Data = %q, want it to alias the payload", m.Data)
	}
}

func TestParseMsgLenient(t *testing.T) {
	tests := []struct {
		in   string
		want Msg
	}{
		{"d8:msg_typei0e5:piecei3e10:total_sizei99ee", Msg{Type: Request, Piece: 3}}, // total_size ignored
		{"d1:ai1e8:msg_typei2e5:piecei1e1:zlee", Msg{Type: Reject, Piece: 1}},        // unknown keys
		{"d5:piecei1e8:msg_typei2ee", Msg{Type: Reject, Piece: 1}},                   // keys out of order
		{"d8:msg_typei1e5:piecei0e10:total_sizei1e1:x1:ye!", Msg{Type: Data, TotalSize: 1, Data: []byte("!")}},
	}
	for _, tc := range tests {
		got, err := ParseMsg([]byte(tc.in))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseMsg(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseMsgErrors(t *testing.T) {
	data := func(piece, total, n int) string {
		return "d8:msg_typei1e5:piecei" + strconv.Itoa(piece) + "e10:total_sizei" + strconv.Itoa(total) + "ee" + strings.Repeat("x", n)
	}
	tests := []struct {
		name    string
		in      string
		unknown bool
	}{
		{"empty", "", false},
		{"not a dict", "li0ee", false},
		{"truncated", "d8:msg_typei0e5:piecei0e", false},
		{"bad bencode", "d8:msg_typei00e5:piecei0ee", false},
		{"no msg_type", "d5:piecei0ee", false},
		{"no piece", "d8:msg_typei0ee", false},
		{"msg_type not an integer", "d8:msg_type1:05:piecei0ee", false},
		{"msg_type 3", "d8:msg_typei3e5:piecei0ee", true},
		{"msg_type -1", "d8:msg_typei-1e5:piecei0ee", true},
		{"piece -1", "d8:msg_typei0e5:piecei-1ee", false},
		{"piece MaxPieces", "d8:msg_typei0e5:piecei2048ee", false},
		{"piece huge", "d8:msg_typei0e5:piecei9223372036854775807ee", false},
		{"request with trailing bytes", "d8:msg_typei0e5:piecei0eex", false},
		{"reject with trailing bytes", "d8:msg_typei2e5:piecei0eex", false},
		{"data without total_size", "d8:msg_typei1e5:piecei0eex", false},
		{"data total_size 0", data(0, 0, 0), false},
		{"data total_size negative", data(0, -1, 1), false},
		{"data total_size above max", data(0, wire.MaxMetadataSize+1, PieceSize), false},
		{"data piece beyond total_size", data(1, PieceSize, PieceSize), false},
		{"data too long", data(0, 2*PieceSize, PieceSize+1), false},
		{"data short", data(0, 2*PieceSize, PieceSize-1), false},
		{"last piece too long", data(1, PieceSize+3, 4), false},
		{"last piece short", data(1, PieceSize+3, 2), false},
		{"data empty", data(0, 5, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMsg([]byte(tc.in))
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrUnknownType) != tc.unknown {
				t.Fatalf("error %v: matches ErrUnknownType = %v, want %v", err, !tc.unknown, tc.unknown)
			}
			if !strings.HasPrefix(err.Error(), "ut_metadata: ") {
				t.Fatalf("error %q lacks the noun", err)
			}
		})
	}
}

func TestMsgEncodeErrors(t *testing.T) {
	for _, m := range []Msg{
		{Type: 3},
		{Type: -1},
		{Type: Request, Piece: -1},
		{Type: Data, TotalSize: 0, Data: []byte("a")},
		{Type: Data, TotalSize: 2 * PieceSize, Data: make([]byte, PieceSize+1)},
	} {
		if b, err := m.AppendBinary([]byte("x")); err == nil || string(b) != "x" {
			t.Errorf("%+.40v: AppendBinary = %.40q, %v; want b unchanged and an error", m, b, err)
		}
	}
}

func TestServe(t *testing.T) {
	info := testInfo(2*PieceSize + 10)
	tests := []struct {
		name string
		info []byte
		req  Msg
		want Msg
	}{
		{"first", info, Msg{Type: Request, Piece: 0}, Msg{Type: Data, Piece: 0, TotalSize: len(info), Data: info[:PieceSize]}},
		{"last", info, Msg{Type: Request, Piece: 2}, Msg{Type: Data, Piece: 2, TotalSize: len(info), Data: info[2*PieceSize:]}},
		{"out of range", info, Msg{Type: Request, Piece: 3}, Msg{Type: Reject, Piece: 3}},
		{"no info yet", nil, Msg{Type: Request, Piece: 0}, Msg{Type: Reject, Piece: 0}},
		{"not a request", info, Msg{Type: Reject, Piece: 0}, Msg{Type: Reject, Piece: 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Serve(tc.info, tc.req)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Serve = %+.60v, want %+.60v", got, tc.want)
			}
			// What Serve answers always encodes and parses back.
			enc, err := got.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := ParseMsg(enc); err != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("ParseMsg(Serve) = %+.60v, %v", back, err)
			}
		})
	}
}

func BenchmarkParseMsg(b *testing.B) {
	for _, m := range []Msg{
		{Type: Request, Piece: 7},
		{Type: Data, Piece: 7, TotalSize: 20 * PieceSize, Data: make([]byte, PieceSize)},
	} {
		in, err := m.AppendBinary(nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(m.Type.String(), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseMsg(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
