package metainfo

import (
	"encoding/hex"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// sha1("") in the encodings a magnet link may use.
const (
	testHex    = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
	testBase32 = "3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"
	testBTMH   = "1220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

func testHash(t testing.TB) [20]byte {
	t.Helper()
	var h [20]byte
	if _, err := hex.Decode(h[:], []byte(testHex)); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseMagnet(t *testing.T) {
	h := testHash(t)
	ap := netip.MustParseAddrPort
	for _, tt := range []struct {
		name, uri string
		want      Magnet
	}{
		{"hex lower", "magnet:?xt=urn:btih:" + testHex, Magnet{InfoHash: h}},
		{"hex upper", "magnet:?xt=urn:btih:" + strings.ToUpper(testHex), Magnet{InfoHash: h}},
		{"base32", "magnet:?xt=urn:btih:" + testBase32, Magnet{InfoHash: h}},
		{"base32 lower", "magnet:?xt=urn:btih:" + strings.ToLower(testBase32), Magnet{InfoHash: h}},
		{"scheme and urn in upper case", "MAGNET:?xt=URN:BTIH:" + testHex, Magnet{InfoHash: h}},
		{"btih and btmh", "magnet:?xt=urn:btmh:" + testBTMH + "&xt=urn:btih:" + testHex, Magnet{InfoHash: h}},
		{"same hash twice, both encodings", "magnet:?xt.1=urn:btih:" + testHex + "&xt.2=urn:btih:" + testBase32, Magnet{InfoHash: h}},
		{"other URNs ignored", "magnet:?xt=urn:sha1:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C&xt=urn:btih:" + testHex, Magnet{InfoHash: h}},
		{"unknown and empty parameters ignored", "magnet:?&xt=urn:btih:" + testHex + "&&ws=%zz&xl=10&so=0-3&x.pe=&tr=",
			Magnet{InfoHash: h}},
		{"name", "magnet:?dn=Big+Buck%20Bunny&xt=urn:btih:" + testHex, Magnet{InfoHash: h, Name: "Big Buck Bunny"}},
		{"first name wins", "magnet:?xt=urn:btih:" + testHex + "&dn=&dn=a&dn.1=b", Magnet{InfoHash: h, Name: "a"}},
		{"name with escaped &, = and +", "magnet:?xt=urn:btih:" + testHex + "&dn=a%26b%3Dc%2Bd",
			Magnet{InfoHash: h, Name: "a&b=c+d"}},
		{"raw space and UTF-8 in name", "magnet:?xt=urn:btih:" + testHex + "&dn=caf\u00e9 noir",
			Magnet{InfoHash: h, Name: "caf\u00e9 noir"}},
		{"repeated and numbered trackers, in order, de-duplicated",
			"magnet:?xt=urn:btih:" + testHex +
				"&tr=http%3A%2F%2Fa%2Fannounce&tr.1=udp://b:80&tr=http://a/announce&tr.2=http%3A%2F%2Fc%2Fx%3Fk%3Dv%26w%3D1",
			Magnet{InfoHash: h, Trackers: []string{"http://a/announce", "udp://b:80", "http://c/x?k=v&w=1"}}},
		{"peers", "magnet:?xt=urn:btih:" + testHex +
			"&x.pe=1.2.3.4:6881&x.pe=%5B2001%3Adb8%3A%3A1%5D%3A51413&x.pe.1=[::ffff:1.2.3.4]:1&x.pe=1.2.3.4:6881" +
			"&x.pe=Peer.Example.com:80&x.pe=peer.example.com:0080&x.pe=localhost.:1",
			Magnet{
				InfoHash:  h,
				Peers:     []netip.AddrPort{ap("1.2.3.4:6881"), ap("[2001:db8::1]:51413"), ap("[::ffff:1.2.3.4]:1")},
				PeerHosts: []string{"peer.example.com:80", "localhost.:1"},
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMagnet(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*m, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", *m, tt.want)
			}
			back, err := ParseMagnet(m.String())
			if err != nil {
				t.Fatalf("ParseMagnet(%q): %v", m.String(), err)
			}
			if !reflect.DeepEqual(back, m) {
				t.Fatalf("round trip through %q gave %+v", m.String(), back)
			}
		})
	}
}

func TestParseMagnetLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("magnet:?xt=urn:btih:" + testHex)
	for i := range 150 {
		n := strconv.Itoa(i)
		b.WriteString("&tr=udp://t" + n + ":1&tr=udp://t0:1") // and a repeat
		b.WriteString("&x.pe=10.0.0." + n + ":1&x.pe=h" + n + ".example:1")
	}
	m, err := ParseMagnet(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Trackers) != maxMagnetTrackers || len(m.Peers) != maxMagnetPeers || len(m.PeerHosts) != maxMagnetPeers {
		t.Fatalf("kept %d trackers, %d peers, %d peer hosts; want %d, %d, %d",
			len(m.Trackers), len(m.Peers), len(m.PeerHosts), maxMagnetTrackers, maxMagnetPeers, maxMagnetPeers)
	}
	if m.Trackers[99] != "udp://t99:1" || m.Peers[99] != netip.MustParseAddrPort("10.0.0.99:1") || m.PeerHosts[99] != "h99.example:1" {
		t.Fatalf("did not keep the first ones: %q, %v, %q", m.Trackers[99], m.Peers[99], m.PeerHosts[99])
	}

	long := "magnet:?xt=urn:btih:" + testHex + "&dn="
	long += strings.Repeat("a", maxMagnetLen-len(long))
	if _, err := ParseMagnet(long); err != nil {
		t.Fatalf("link of exactly %d bytes: %v", maxMagnetLen, err)
	}
	if _, err := ParseMagnet(long + "a"); err == nil || !strings.Contains(err.Error(), "more than 65536") {
		t.Fatalf("link of %d bytes: err = %v", maxMagnetLen+1, err)
	}
}

func TestParseMagnetErrors(t *testing.T) {
	xt := "xt=urn:btih:" + testHex
	for _, tt := range []struct {
		name, uri, want string
	}{
		{"empty", "", "is not a magnet URI"},
		{"http URL", "http://example.com/?xt=urn:btih:" + testHex, "is not a magnet URI"},
		{"no question mark", "magnet:xt=urn:btih:" + testHex, "is not a magnet URI"},
		{"no xt", "magnet:?dn=a&tr=http://t/", "no xt parameter"},
		{"only other URNs", "magnet:?xt=urn:ed2k:31D6CFE0D16AE931B73C59D7E0C089C0", "no BitTorrent info-hash"},
		{"btmh only", "magnet:?xt=urn:btmh:" + testBTMH + "&dn=a",
			"v2-only magnet links (urn:btmh) are not supported yet"},
		{"hex too short", "magnet:?xt=urn:btih:" + testHex[:39], "has 39 characters, want 40 (hex) or 32 (base32)"},
		{"hex too long", "magnet:?xt=urn:btih:" + testHex + "0", "has 41 characters"},
		{"empty hash", "magnet:?xt=urn:btih:", "has 0 characters"},
		{"bad hex", "magnet:?xt=urn:btih:" + testHex[:39] + "g", "is not hexadecimal"},
		{"bad base32", "magnet:?xt=urn:btih:" + testBase32[:31] + "1", "is not base32"},
		{"base32 padding", "magnet:?xt=urn:btih:" + testBase32[:24] + "========", "is not base32"},
		{"base32 escaped newline", "magnet:?xt=urn:btih:" + testBase32[:31] + "%0A", "is not base32"},
		{"bad hash beside a good one", "magnet:?" + xt + "&xt=urn:btih:zz", "has 2 characters"},
		{"two torrents", "magnet:?xt.1=urn:btih:" + testHex + "&xt.2=urn:btih:" + strings.Repeat("0", 40),
			"links to several torrents are not supported"},
		{"bad escape in tr", "magnet:?" + xt + "&tr=http://a/%zz", `tr "http://a/%zz": invalid URL escape "%zz"`},
		{"control character", "magnet:?" + xt + "\nmagnet:?" + xt, `control character '\n' at offset 60`},
		{"tab", "magnet:?" + xt + "&dn=a\tb", "control character"},
		{"x.pe without port", "magnet:?" + xt + "&x.pe=1.2.3.4", `x.pe "1.2.3.4": want HOST:PORT`},
		{"x.pe IPv6 without brackets", "magnet:?" + xt + "&x.pe=2001:db8::1:80", `x.pe "2001:db8::1:80": want HOST:PORT`},
		{"x.pe port 0", "magnet:?" + xt + "&x.pe=1.2.3.4:0", `x.pe "1.2.3.4:0": port "0" is not in 1-65535`},
		{"x.pe port too big", "magnet:?" + xt + "&x.pe=host:65536", `port "65536" is not in 1-65535`},
		{"x.pe port not a number", "magnet:?" + xt + "&x.pe=host:http", `port "http"`},
		{"x.pe IPv4 in brackets", "magnet:?" + xt + "&x.pe=[1.2.3.4]:80", `"1.2.3.4" in brackets is not an IPv6 address`},
		{"x.pe host in brackets", "magnet:?" + xt + "&x.pe=[host]:80", "in brackets is not an IPv6 address"},
		{"x.pe IPv6 zone", "magnet:?" + xt + "&x.pe=%5Bfe80::1%25eth0%5D:80", "without a zone"},
		{"x.pe bad IPv4", "magnet:?" + xt + "&x.pe=300.1.1.1:80", `"300.1.1.1" is not an IP address or host name`},
		{"x.pe empty host", "magnet:?" + xt + "&x.pe=:80", `"" is not an IP address or host name`},
		{"x.pe bad host", "magnet:?" + xt + "&x.pe=a%20b:80", `x.pe "a b:80": "a b" is not an IP address or host name`},
		{"x.pe empty label", "magnet:?" + xt + "&x.pe=a..b:80", "is not an IP address or host name"},
		{"long value clipped", "magnet:?xt=urn:btih:" + strings.Repeat("a", 1000), `aaaa"...: info-hash has 1000 characters`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMagnet(tt.uri)
			if err == nil {
				t.Fatalf("got %+v, want error containing %q", m, tt.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "metainfo: magnet: ") || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want one line with prefix %q containing %q", msg, "metainfo: magnet: ", tt.want)
			}
			if len(msg) > 300 {
				t.Fatalf("error is %d bytes long", len(msg))
			}
		})
	}
}

func TestIsMagnet(t *testing.T) {
	for s, want := range map[string]bool{
		"magnet:?xt=urn:btih:" + testHex: true,
		"Magnet:?":                       true,
		"MAGNET:?dn=x":                   true,
		"magnet:":                        false,
		"magnet:xt=1":                    false,
		" magnet:?xt=1":                  false,
		"magnets:?":                      false,
		"/tmp/a.torrent":                 false,
		"":                               false,
	} {
		if got := IsMagnet(s); got != want {
			t.Errorf("IsMagnet(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestMagnetString(t *testing.T) {
	m := &Magnet{
		InfoHash:  testHash(t),
		Name:      "a b&c=d+e/é",
		Trackers:  []string{"http://t/ann?k=1&x=y z", "udp://u:1"},
		Peers:     []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:5"), netip.MustParseAddrPort("[::1]:6")},
		PeerHosts: []string{"h.example:7"},
	}
	want := "magnet:?xt=urn:btih:" + testHex +
		"&dn=a+b%26c%3Dd%2Be%2F%C3%A9" +
		"&tr=http%3A%2F%2Ft%2Fann%3Fk%3D1%26x%3Dy+z&tr=udp%3A%2F%2Fu%3A1" +
		"&x.pe=1.2.3.4%3A5&x.pe=%5B%3A%3A1%5D%3A6&x.pe=h.example%3A7"
	if got := m.String(); got != want {
		t.Fatalf("String() =\n%s\nwant\n%s", got, want)
	}
	back, err := ParseMagnet(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("ParseMagnet(String()) = %+v\nwant %+v", back, m)
	}
	if got := (&Magnet{}).String(); got != "magnet:?xt=urn:btih:"+strings.Repeat("0", 40) {
		t.Fatalf("zero Magnet: %q", got)
	}
}

func TestMetaInfoMagnet(t *testing.T) {
	m, err := Parse([]byte(enc(dict{
		{"announce", "http://ignored/"},
		{"announce-list", []any{
			[]any{"http://a/", "http://b/"},
			[]any{"", "http://a/"},
			[]any{"udp://c:1"},
		}},
		{"info", singleInfo()},
	})))
	if err != nil {
		t.Fatal(err)
	}
	got := m.Magnet()
	want := &Magnet{InfoHash: m.InfoHash, Name: "movie.mkv", Trackers: []string{"http://a/", "http://b/", "udp://c:1"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Magnet() = %+v, want %+v", got, want)
	}
	back, err := ParseMagnet(got.String())
	if err != nil || !reflect.DeepEqual(back, got) {
		t.Fatalf("ParseMagnet(%q) = %+v, %v", got.String(), back, err)
	}

	bare, err := Parse([]byte(enc(dict{{"info", singleInfo()}})))
	if err != nil {
		t.Fatal(err)
	}
	if got := bare.Magnet(); got.Trackers != nil || got.Name != "movie.mkv" {
		t.Fatalf("torrent without trackers: %+v", got)
	}
}
