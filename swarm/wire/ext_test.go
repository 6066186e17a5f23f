package wire

import (
	"errors"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestExtHandshakeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    ExtHandshakeMsg
		enc  string
	}{
		{"empty", ExtHandshakeMsg{}, "d1:mdee"},
		{"bep 9 example", ExtHandshakeMsg{M: map[string]uint8{"ut_metadata": 3}, MetadataSize: 31235},
			"d1:md11:ut_metadatai3ee13:metadata_sizei31235ee"},
		{"all fields", ExtHandshakeMsg{
			M:            map[string]uint8{"ut_pex": 2, "ut_metadata": 1, "lt_donthave": 0},
			V:            "btfs 0.1 ✓",
			P:            6881,
			Reqq:         500,
			MetadataSize: 1 << 20,
			YourIP:       netip.MustParseAddr("192.0.2.7"),
		}, "d1:md11:lt_donthavei0e11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei1048576e1:pi6881e4:reqqi500e1:v12:btfs 0.1 ✓6:yourip4:\xc0\x00\x02\x07e"},
		{"ipv6", ExtHandshakeMsg{M: map[string]uint8{}, YourIP: netip.MustParseAddr("2001:db8::1")},
			"d1:mde6:yourip16:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01e"},
		{"above MaxMetadataSize is kept", ExtHandshakeMsg{M: map[string]uint8{}, MetadataSize: 1 << 30},
			"d1:mde13:metadata_sizei1073741824ee"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.h.AppendBinary([]byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "x"+tc.enc {
				t.Fatalf("AppendBinary = %q, want %q", got, "x"+tc.enc)
			}
			back, err := ParseExtHandshake(got[1:])
			if err != nil {
				t.Fatal(err)
			}
			want := tc.h
			if want.M == nil {
				want.M = map[string]uint8{}
			}
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("ParseExtHandshake = %+v, want %+v", back, want)
			}
		})
	}
}

func TestExtHandshakeEncodeErrors(t *testing.T) {
	for _, h := range []ExtHandshakeMsg{{Reqq: -1}, {MetadataSize: -1}} {
		if b, err := h.AppendBinary([]byte("x")); err == nil || string(b) != "x" {
			t.Errorf("%+v: AppendBinary = %q, %v; want b unchanged and an error", h, b, err)
		}
	}
}

func TestParseExtHandshakeBounds(t *testing.T) {
	long := strings.Repeat("a", MaxExtNameLen)
	tests := []struct {
		name string
		in   string
		want ExtHandshakeMsg
	}{
		{"unknown keys ignored", "d1:ai1e1:mde1:zli1eee", ExtHandshakeMsg{M: map[string]uint8{}}},
		{"keys in any order", "d1:pi1e1:md1:xi1eee", ExtHandshakeMsg{M: map[string]uint8{"x": 1}, P: 1}},
		{"m absent", "de", ExtHandshakeMsg{}},
		{"m not a dict", "d1:mi3ee", ExtHandshakeMsg{}},
		{"m ids out of range or not integers skipped", "d1:md1:ai-1e1:bi256e1:ci255e1:d1:x1:eli1ee1:fi0eee",
			ExtHandshakeMsg{M: map[string]uint8{"c": 255, "f": 0}}},
		{"m name length", "d1:md" + strconv.Itoa(len(long)) + ":" + long + "i1e" + strconv.Itoa(len(long)+1) + ":" + long + "ai2e0:i3eee",
			ExtHandshakeMsg{M: map[string]uint8{long: 1}}},
		{"v cut at 100 bytes", "d1:v101:" + strings.Repeat("v", 101) + "e", ExtHandshakeMsg{V: strings.Repeat("v", 100)}},
		{"v cut at a rune boundary", "d1:v101:" + strings.Repeat("v", 98) + "✓e", ExtHandshakeMsg{V: strings.Repeat("v", 98)}},
		{"v invalid utf-8 replaced", "d1:v4:a\xffb\ne", ExtHandshakeMsg{V: "a\uFFFDb\uFFFD"}},
		{"v not a string", "d1:vi1ee", ExtHandshakeMsg{}},
		{"p 0", "d1:pi0ee", ExtHandshakeMsg{}},
		{"p 1", "d1:pi1ee", ExtHandshakeMsg{P: 1}},
		{"p 65535", "d1:pi65535ee", ExtHandshakeMsg{P: 65535}},
		{"p 65536", "d1:pi65536ee", ExtHandshakeMsg{}},
		{"p negative", "d1:pi-1ee", ExtHandshakeMsg{}},
		{"p not an integer", "d1:p4:6881e", ExtHandshakeMsg{}},
		{"reqq negative", "d4:reqqi-5ee", ExtHandshakeMsg{}},
		{"reqq 2000", "d4:reqqi2000ee", ExtHandshakeMsg{Reqq: 2000}},
		{"reqq clamped", "d4:reqqi9223372036854775807ee", ExtHandshakeMsg{Reqq: MaxReqq}},
		{"metadata_size 0", "d13:metadata_sizei0ee", ExtHandshakeMsg{}},
		{"metadata_size huge kept", "d13:metadata_sizei9223372036854775807ee", ExtHandshakeMsg{MetadataSize: 1<<63 - 1}},
		{"metadata_size not an integer", "d13:metadata_size1:1e", ExtHandshakeMsg{}},
		{"yourip 3 bytes", "d6:yourip3:abce", ExtHandshakeMsg{}},
		{"yourip 6 bytes", "d6:yourip6:abcdefe", ExtHandshakeMsg{}},
		{"yourip mapped", "d6:yourip16:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x01\x02\x03\x04e",
			ExtHandshakeMsg{YourIP: netip.MustParseAddr("1.2.3.4")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseExtHandshake([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseExtHandshakeManyNames(t *testing.T) {
	in := []byte("d1:md")
	for i := range 3 * MaxExtNames {
		name := "n" + strconv.Itoa(1000+i) // sorted, distinct
		in = append(in, strconv.Itoa(len(name))+":"+name+"i1e"...)
	}
	in = append(in, "ee"...)
	h, err := ParseExtHandshake(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.M) != MaxExtNames {
		t.Fatalf("%d names kept, want %d", len(h.M), MaxExtNames)
	}
	if _, ok := h.M["n"+strconv.Itoa(1000+MaxExtNames-1)]; !ok {
		t.Fatal("the last name within the bound is missing")
	}
}

func TestParseExtHandshakeErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"le",
		"i1e",
		"4:spam",
		"d1:mde trailing",
		"d1:md",
		"d1:ai1e1:ai2ee",              // duplicate key
		"d13:metadata_sizei-1ee",      // negative size
		"d1:pi01ee",                   // non-canonical integer
		"d1:pi99999999999999999999ee", // overflow
	} {
		_, err := ParseExtHandshake([]byte(in))
		if err == nil {
			t.Errorf("%q: no error", in)
			continue
		}
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("%q: %v does not match ErrProtocol", in, err)
		}
		if !strings.HasPrefix(err.Error(), "wire: extension handshake: ") {
			t.Errorf("%q: error %q lacks the noun", in, err)
		}
	}
}

func TestParseExtHandshakeDoesNotAlias(t *testing.T) {
	in := []byte("d1:md2:abi1ee1:v2:xye")
	h, err := ParseExtHandshake(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = '!'
	}
	if h.V != "xy" || h.M["ab"] != 1 {
		t.Fatalf("result changed with its input: %+v", h)
	}
}

func BenchmarkParseExtHandshake(b *testing.B) {
	in, err := ExtHandshakeMsg{
		M:            map[string]uint8{"ut_metadata": 1, "ut_pex": 2, "lt_donthave": 3, "upload_only": 4},
		V:            "btfs 0.1",
		P:            6881,
		Reqq:         250,
		MetadataSize: 40000,
		YourIP:       netip.MustParseAddr("192.0.2.7"),
	}.AppendBinary(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseExtHandshake(in); err != nil {
			b.Fatal(err)
		}
	}
}
