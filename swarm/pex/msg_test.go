package pex

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// c returns the compact form of an address: 6 bytes for IPv4, 18 for IPv6.
func c(s string) string { return string(appendCompact(nil, ap(s).Addr(), ap(s).Port())) }

func bstr(s string) string { return strconv.Itoa(len(s)) + ":" + s }

func TestMsgRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  Msg
		enc  string
	}{
		{"empty", Msg{}, "de"},
		{"ipv4", Msg{
			Added:   []Peer{{ap("1.2.3.4:6881"), Seed | Reachable}, {ap("5.6.7.8:1"), 0}},
			Dropped: []netip.AddrPort{ap("9.9.9.9:65535")},
		}, "d5:added12:\x01\x02\x03\x04\x1a\xe1\x05\x06\x07\x08\x00\x017:added.f2:\x12\x007:dropped6:\x09\x09\x09\x09\xff\xffe"},
		{"ipv6", Msg{
			Added:   []Peer{{ap("[2001:db8::1]:6881"), PrefersEncryption | UTP | Holepunch}},
			Dropped: []netip.AddrPort{ap("[2001:db8::2]:80")},
		}, "d6:added6" + bstr(c("[2001:db8::1]:6881")) + "8:added6.f1:\x0d8:dropped6" + bstr(c("[2001:db8::2]:80")) + "e"},
		{"both families", Msg{
			Added:   []Peer{{ap("1.2.3.4:5"), 0}, {ap("[2001:db8::1]:6"), 0}},
			Dropped: []netip.AddrPort{ap("6.7.8.9:10"), ap("[2001:db8::3]:11")},
		}, "d5:added" + bstr(c("1.2.3.4:5")) + "7:added.f1:\x006:added6" + bstr(c("[2001:db8::1]:6")) + "8:added6.f1:\x00" +
			"7:dropped" + bstr(c("6.7.8.9:10")) + "8:dropped6" + bstr(c("[2001:db8::3]:11")) + "e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.msg.AppendBinary([]byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "x"+tc.enc {
				t.Fatalf("AppendBinary = %q, want %q", got, "x"+tc.enc)
			}
			back, err := ParseMsg(got[1:])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.msg) {
				t.Fatalf("ParseMsg = %+v, want %+v", back, tc.msg)
			}
		})
	}
}

func TestMsgEncodeMapped(t *testing.T) {
	m := Msg{Added: []Peer{{ap("[::ffff:1.2.3.4]:5"), 0}}, Dropped: []netip.AddrPort{ap("[::ffff:1.2.3.5]:5")}}
	got, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "d5:added" + bstr(c("1.2.3.4:5")) + "7:added.f1:\x007:dropped" + bstr(c("1.2.3.5:5")) + "e"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := (Msg{Added: []Peer{{}}}).AppendBinary(nil); err == nil {
		t.Fatal("invalid added address encoded")
	}
	if _, err := (Msg{Dropped: []netip.AddrPort{{}}}).AppendBinary(nil); err == nil {
		t.Fatal("invalid dropped address encoded")
	}
}

func TestParseMsgSkipsAndFlags(t *testing.T) {
	added := c("1.1.1.1:1") + c("0.0.0.0:2") + c("2.2.2.2:0") + c("224.0.0.1:3") + c("3.3.3.3:4")
	added6 := c("[::]:1") + c("[ff02::1]:2") + c("[::ffff:4.4.4.4]:5") + c("[2001:db8::9]:6")
	in := "d5:added" + bstr(added) + "7:added.f3:\x01\x02\x03" +
		"6:added6" + bstr(added6) + "8:added6.f6:\x01\x02\x03\x04\x05\x06" +
		"7:dropped" + bstr(c("5.5.5.5:0")+c("6.6.6.6:7")) + "e"
	got, err := ParseMsg([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Msg{
		Added: []Peer{
			{ap("1.1.1.1:1"), 0x01},
			{ap("3.3.3.3:4"), 0}, // added.f too short
			{ap("4.4.4.4:5"), 0x03},
			{ap("[2001:db8::9]:6"), 0x04}, // extra flags ignored
		},
		Dropped: []netip.AddrPort{ap("6.6.6.6:7")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestParseMsgBounds(t *testing.T) {
	var a4, a6 strings.Builder
	for i := range MaxParsed + 50 {
		a4.WriteString(c("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + ":1"))
		a6.WriteString(c("[2001:db8::" + strconv.FormatInt(int64(i+1), 16) + "]:1"))
	}
	in := "d5:added" + bstr(a4.String()) + "6:added6" + bstr(a6.String()) +
		"7:dropped" + bstr(a4.String()) + "8:dropped6" + bstr(a6.String()) + "e"
	m, err := ParseMsg([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Added) != 2*MaxParsed || len(m.Dropped) != 2*MaxParsed {
		t.Fatalf("%d added, %d dropped; want %d each", len(m.Added), len(m.Dropped), 2*MaxParsed)
	}
	if m.Added[MaxParsed-1].Addr != ap("10.0.0.199:1") || m.Added[MaxParsed].Addr != ap("[2001:db8::1]:1") {
		t.Fatalf("wrong entries kept: %v, %v", m.Added[MaxParsed-1], m.Added[MaxParsed])
	}
}

func TestParseMsgErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"le",
		"de trailing",
		"d5:added",
		"d5:added5:\x01\x02\x03\x04\x05e",
		"d5:added7:\x01\x02\x03\x04\x05\x06\x07e",
		"d6:added66:\x01\x02\x03\x04\x05\x06e",
		"d7:dropped1:xe",
		"d8:dropped617:" + strings.Repeat("x", 17) + "e",
		"d5:addedi1ee",
		"d7:droppedlee",
		"d5:added0:5:added0:e", // duplicate key
	} {
		_, err := ParseMsg([]byte(in))
		if err == nil {
			t.Errorf("%q: no error", in)
			continue
		}
		if !strings.HasPrefix(err.Error(), "ut_pex: ") {
			t.Errorf("%q: error %q lacks the noun", in, err)
		}
	}
	// Flags of the wrong type, unknown keys and empty lists are fine.
	if m, err := ParseMsg([]byte("d1:ai1e5:added0:7:added.fi1e1:zdee")); err != nil || !reflect.DeepEqual(m, Msg{}) {
		t.Errorf("lenient parse = %+v, %v", m, err)
	}
}

func BenchmarkParseMsg(b *testing.B) {
	var m Msg
	for i := range MaxPerMessage {
		m.Added = append(m.Added, Peer{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), 6881), Flags: Reachable})
		m.Dropped = append(m.Dropped, netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 1, 13, 0xb8, 15: byte(i + 1)}), 6881))
	}
	in, err := m.AppendBinary(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMsg(in); err != nil {
			b.Fatal(err)
		}
	}
}
