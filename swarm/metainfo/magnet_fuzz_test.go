package metainfo

import (
	"reflect"
	"slices"
	"testing"
)

func FuzzParseMagnet(f *testing.F) {
	for _, s := range []string{
		"magnet:?xt=urn:btih:" + testHex,
		"MAGNET:?xt=URN:BTIH:" + testBase32 + "&dn=a+b%26c",
		"magnet:?xt.1=urn:btmh:" + testBTMH + "&xt.2=urn:btih:" + testHex + "&tr.1=udp%3A%2F%2Ft%3A1&tr.2=http://u/",
		"magnet:?xt=urn:btih:" + testHex + "&x.pe=1.2.3.4:1&x.pe=[::1]:2&x.pe=h.example:3&x.pe=[fe80::1%25e]:4",
		"magnet:?xt=urn:btmh:" + testBTMH,
		"magnet:?dn=%zz&tr=&&x.pe=",
	} {
		f.Add(s)
	}
	for _, data := range seeds(f) {
		mi, err := Parse(data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(mi.Magnet().String())
	}
	f.Fuzz(func(t *testing.T, uri string) {
		m, err := ParseMagnet(uri)
		if err != nil {
			if m != nil {
				t.Fatal("a Magnet with an error")
			}
			return
		}
		if !IsMagnet(uri) {
			t.Fatalf("parsed %q, which IsMagnet rejects", uri)
		}
		if len(m.Trackers) > maxMagnetTrackers || len(m.Peers) > maxMagnetPeers || len(m.PeerHosts) > maxMagnetPeers {
			t.Fatalf("kept %d trackers, %d peers, %d hosts", len(m.Trackers), len(m.Peers), len(m.PeerHosts))
		}
		for _, list := range [][]string{m.Trackers, m.PeerHosts} {
			if slices.Contains(list, "") || len(slices.Compact(slices.Sorted(slices.Values(list)))) != len(list) {
				t.Fatalf("empty or repeated entries in %q", list)
			}
		}
		for _, p := range m.Peers {
			if !p.IsValid() || p.Port() == 0 || p.Addr().Zone() != "" {
				t.Fatalf("bad peer %v", p)
			}
		}
		s := m.String()
		if len(s) > maxMagnetLen {
			return // escaping grew it past the limit
		}
		back, err := ParseMagnet(s)
		if err != nil {
			t.Fatalf("ParseMagnet(%q): %v", s, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip through %q:\n got %+v\nwant %+v", s, back, m)
		}
	})
}
