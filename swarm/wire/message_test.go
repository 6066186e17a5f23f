package wire

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
)

// roundTripCases holds one message of every type with its wire encoding.
var roundTripCases = []struct {
	name string
	msg  Message
	hex  string
}{
	{"keep-alive", Message{KeepAlive: true}, "00000000"},
	{"choke", Message{ID: Choke}, "0000000100"},
	{"unchoke", Message{ID: Unchoke}, "0000000101"},
	{"interested", Message{ID: Interested}, "0000000102"},
	{"not interested", Message{ID: NotInterested}, "0000000103"},
	{"have", Message{ID: Have, Index: 0x01020304}, "000000050401020304"},
	{"bitfield", Message{ID: Bitfield, Payload: []byte{0xff, 0x80}}, "0000000305ff80"},
	{"empty bitfield", Message{ID: Bitfield}, "0000000105"},
	{"request", Message{ID: Request, Index: 1, Begin: 0x4000, Length: 0x4000}, "0000000d06000000010000400000004000"},
	{"piece", Message{ID: Piece, Index: 2, Begin: 3, Payload: []byte("abc")}, "0000000c07000000020000000361626" + "3"},
	{"cancel", Message{ID: Cancel, Index: 7, Begin: 8, Length: MaxBlockLen}, "0000000d08000000070000000800020000"},
	{"port", Message{ID: Port, Port: 6881}, "00000003091ae1"},
	{"suggest", Message{ID: Suggest, Index: 9}, "000000050d00000009"},
	{"have all", Message{ID: HaveAll}, "000000010e"},
	{"have none", Message{ID: HaveNone}, "000000010f"},
	{"reject", Message{ID: Reject, Index: 1, Begin: 2, Length: 1}, "0000000d10000000010000000200000001"},
	{"allowed fast", Message{ID: AllowedFast, Index: 0xffffffff}, "0000000511ffffffff"},
	{"extended handshake", Message{ID: Extended, ExtID: ExtHandshake, Payload: []byte("de")}, "00000004140064" + "65"},
	{"extended empty", Message{ID: Extended, ExtID: 3}, "000000021403"},
	{"unknown id", Message{ID: 42, Payload: []byte{1, 2}}, "000000032a0102"},
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.msg.AppendBinary([]byte("prefix"))
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[6:], want) {
				t.Fatalf("AppendBinary = %x, want prefix + %x", got, want)
			}
			dec, err := Decode(want, Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertMsg(t, dec, tc.msg)

			r := NewReader(bytes.NewReader(want), Limits{})
			m, err := r.Read()
			if err != nil {
				t.Fatalf("Reader.Read: %v", err)
			}
			assertMsg(t, m, tc.msg)
			if _, err := r.Read(); err == nil || err.Error() != "EOF" {
				t.Fatalf("second Read: %v, want EOF", err)
			}
		})
	}
}

// assertMsg compares messages treating a nil and an empty payload as equal.
func assertMsg(t *testing.T, got, want Message) {
	t.Helper()
	if len(got.Payload) == 0 && len(want.Payload) == 0 {
		got.Payload, want.Payload = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestAppendHelpers(t *testing.T) {
	block := bytes.Repeat([]byte{0xab}, 100)
	want, _ := (&Message{ID: Piece, Index: 5, Begin: 6, Payload: block}).AppendBinary(nil)
	if got := AppendPiece(nil, 5, 6, block); !bytes.Equal(got, want) {
		t.Errorf("AppendPiece = %x, want %x", got, want)
	}
	for _, id := range []ID{Request, Cancel, Reject} {
		t.Run(id.String(), func(t *testing.T) {
			want, _ := (&Message{ID: id, Index: 1, Begin: 2, Length: 3}).AppendBinary(nil)
			if got := AppendRequest(nil, id, 1, 2, 3); !bytes.Equal(got, want) {
				t.Errorf("AppendRequest = %x, want %x", got, want)
			}
		})
	}
}

func TestAppendNoAlloc(t *testing.T) {
	buf := make([]byte, 0, 64<<10)
	block := make([]byte, 16<<10)
	msg := &Message{ID: Piece, Index: 1, Payload: block}
	tests := []struct {
		name string
		f    func()
	}{
		{"AppendPiece", func() { _ = AppendPiece(buf[:0], 1, 2, block) }},
		{"AppendRequest", func() { _ = AppendRequest(buf[:0], Request, 1, 2, 3) }},
		{"Message.AppendBinary", func() { _, _ = msg.AppendBinary(buf[:0]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.f); n != 0 {
				t.Errorf("%v allocs per run, want 0", n)
			}
		})
	}
}

func TestIDString(t *testing.T) {
	tests := []struct {
		id   ID
		want string
	}{
		{Choke, "choke"}, {NotInterested, "not interested"}, {Port, "port"},
		{HaveAll, "have all"}, {AllowedFast, "allowed fast"}, {Extended, "extended"},
		{10, "id 10"}, {255, "id 255"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.id.String(); got != tc.want {
				t.Errorf("ID(%d).String() = %q, want %q", tc.id, got, tc.want)
			}
		})
	}
}
