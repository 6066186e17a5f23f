package pex

import (
	"net/netip"
	"reflect"
	"testing"
)

func FuzzPEX(f *testing.F) {
	for _, m := range []Msg{
		{},
		{Added: peers(0, 3), Dropped: addrs(peers(10, 2))},
		{Added: []Peer{{Addr: ap("[2001:db8::1]:6881"), Flags: Reachable}}, Dropped: []netip.AddrPort{ap("[2001:db8::2]:1")}},
	} {
		b, err := m.AppendBinary(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("d5:added7:\x01\x02\x03\x04\x05\x06\x07e"))
	f.Add([]byte("d5:added6:\x00\x00\x00\x00\x00\x017:added.f2:\x01\x02e"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMsg(data)
		if err != nil {
			return
		}
		if len(m.Added) > 2*MaxParsed || len(m.Dropped) > 2*MaxParsed {
			t.Fatalf("%d added, %d dropped", len(m.Added), len(m.Dropped))
		}
		for _, a := range append(addrs(m.Added), m.Dropped...) {
			if !usable(a) || a.Addr().Is4In6() {
				t.Fatalf("kept %v", a)
			}
		}
		enc, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		back, err := ParseMsg(enc)
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("re-parsed %+v, %v; want %+v", back, err, m)
		}

		// A Sender fed the parsed peers stays within the limits.
		var s Sender
		for range 3 {
			out, _ := s.Next(m.Added)
			if len(out.Added) > MaxPerMessage || len(out.Dropped) > MaxPerMessage {
				t.Fatalf("Sender: %d added, %d dropped", len(out.Added), len(out.Dropped))
			}
		}
	})
}
