package trackertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeebo/bencode"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var hash = id20("info-hash-xxxxxxxxxx")

func id20(s string) (b [20]byte) {
	copy(b[:], s)
	return b
}

// query builds an announce query; extra overrides or, with an empty value,
// removes parameters.
func query(peer string, port int, extra ...string) string {
	id := id20(peer)
	q := url.Values{
		"info_hash": {string(hash[:])}, "peer_id": {string(id[:])},
		"port": {fmt.Sprint(port)}, "left": {"10"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			q.Del(extra[i])
		} else {
			q.Set(extra[i], extra[i+1])
		}
	}
	return q.Encode()
}

// do sends an announce from remote and decodes the bencoded answer.
func do(t *testing.T, s *Server, remote, rawQuery string) map[string]any {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/x/announce?"+rawQuery, nil)
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	var m map[string]any
	if err := bencode.DecodeBytes(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("bad bencode %q: %v", w.Body.String(), err)
	}
	return m
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name, query, want string
	}{
		{"short info_hash", query("a", 1, "info_hash", "abc"), "info_hash is 3 bytes"},
		{"no info_hash", query("a", 1, "info_hash", ""), "exactly one info_hash"},
		{"two info_hash", query("a", 1) + "&info_hash=" + url.QueryEscape(string(hash[:])), "exactly one info_hash"},
		{"long peer_id", query("a", 1, "peer_id", strings.Repeat("p", 21)), "peer_id is 21 bytes"},
		{"port 0", query("a", 0), "invalid port"},
		{"port too big", query("a", 65536), "invalid port"},
		{"port missing", query("a", 1, "port", ""), "invalid port"},
		{"bad left", query("a", 1, "left", "-1"), "invalid left"},
		{"bad event", query("a", 1, "event", "paused"), "invalid event"},
		{"bad numwant", query("a", 1, "numwant", "lots"), "invalid numwant"},
		{"bad escape", "info_hash=%zz", "malformed query"},
	}
	s := New(time.Minute)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := do(t, s, "10.0.0.1:9", tt.query)
			if reason, _ := m["failure reason"].(string); !strings.Contains(reason, tt.want) {
				t.Fatalf("failure reason %q, want one containing %q", reason, tt.want)
			}
		})
	}
	if n := s.Announces(); n != 0 {
		t.Fatalf("Announces() = %d after only rejects", n)
	}
}

func TestNotAnnounce(t *testing.T) {
	s := New(time.Minute)
	for _, tt := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/scrape", http.StatusNotFound},
		{http.MethodPost, "/announce", http.StatusMethodNotAllowed},
	} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
		if w.Code != tt.code {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, w.Code, tt.code)
		}
	}
}

func TestResponseForms(t *testing.T) {
	s := New(90 * time.Second)
	do(t, s, "10.0.0.1:9", query("v4", 1001, "left", "0"))
	do(t, s, "[2001:db8::1]:9", query("v6", 1002))
	do(t, s, "10.0.0.3:9", query("byip", 1003, "ip", "192.0.2.7"))
	do(t, s, "10.0.0.4:9", query("badip", 1004, "ip", "not-an-ip"))

	compact := do(t, s, "10.0.0.9:9", query("asker", 2000, "compact", "1"))
	wantV4 := map[string]bool{
		"\x0a\x00\x00\x01\x03\xe9": true, "\xc0\x00\x02\x07\x03\xeb": true, "\x0a\x00\x00\x04\x03\xec": true,
	}
	v4 := compact["peers"].(string)
	for i := 0; i+6 <= len(v4); i += 6 {
		if !wantV4[v4[i:i+6]] {
			t.Errorf("unexpected compact peer %x", v4[i:i+6])
		}
		delete(wantV4, v4[i:i+6])
	}
	if len(v4) != 18 || len(wantV4) != 0 {
		t.Errorf("compact peers %x, missing %d", v4, len(wantV4))
	}
	wantV6 := string(netip.MustParseAddr("2001:db8::1").AsSlice()) + "\x03\xea"
	if compact["peers6"] != wantV6 {
		t.Errorf("peers6 = %x, want %x", compact["peers6"], wantV6)
	}
	if compact["interval"] != int64(90) || compact["complete"] != int64(1) || compact["incomplete"] != int64(4) {
		t.Errorf("counts/interval wrong: %v", compact)
	}

	dict := do(t, s, "10.0.0.9:9", query("asker", 2000, "numwant", "1"))
	list := dict["peers"].([]any)
	if len(list) != 1 {
		t.Fatalf("numwant=1 gave %d peers", len(list))
	}
	p := list[0].(map[string]any)
	ap := netip.AddrPortFrom(netip.MustParseAddr(p["ip"].(string)), uint16(p["port"].(int64)))
	if !slices.Contains(s.Peers(hash), ap) || len(p["peer id"].(string)) != 20 || ap.Port() == 2000 {
		t.Errorf("bad dictionary peer %v", p)
	}

	want := []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.1:1001"), netip.MustParseAddrPort("10.0.0.4:1004"),
		netip.MustParseAddrPort("10.0.0.9:2000"), netip.MustParseAddrPort("192.0.2.7:1003"),
		netip.MustParseAddrPort("[2001:db8::1]:1002"),
	}
	if got := s.Peers(hash); !reflect.DeepEqual(got, want) {
		t.Errorf("Peers = %v, want %v", got, want)
	}
}

func TestStoppedAndExpiry(t *testing.T) {
	s := New(10 * time.Second)
	now := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return now }

	do(t, s, "10.0.0.1:9", query("a", 1))
	do(t, s, "10.0.0.2:9", query("b", 2))
	if m := do(t, s, "10.0.0.2:9", query("b", 2, "event", "stopped")); len(m["peers"].([]any)) != 0 {
		t.Errorf("stopped announce got peers %v", m["peers"])
	}
	if got := s.Peers(hash); len(got) != 1 || got[0].Port() != 1 {
		t.Fatalf("after stop: %v", got)
	}

	now = now.Add(25 * time.Second)
	do(t, s, "10.0.0.3:9", query("c", 3))
	if got := s.Peers(hash); len(got) != 2 {
		t.Fatalf("before expiry: %v", got)
	}
	now = now.Add(6 * time.Second) // a last seen 31 s ago, over 3×10 s
	if got := s.Peers(hash); len(got) != 1 || got[0].Port() != 3 {
		t.Fatalf("after expiry: %v", got)
	}
	now = now.Add(time.Minute)
	do(t, s, "10.0.0.4:9", query("d", 4, "info_hash", strings.Repeat("z", 20)))
	s.mu.Lock()
	_, kept := s.swarms[hash]
	s.mu.Unlock()
	if kept {
		t.Error("expired swarm not swept")
	}
}

func TestIntervalRounding(t *testing.T) {
	for _, tt := range []struct {
		in, want time.Duration
	}{
		{0, 30 * time.Minute}, {-time.Second, 30 * time.Minute},
		{time.Millisecond, time.Second}, {1500 * time.Millisecond, 2 * time.Second}, {time.Minute, time.Minute},
	} {
		if got := New(tt.in).interval; got != tt.want {
			t.Errorf("New(%v).interval = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestConcurrentAnnounces(t *testing.T) {
	s := New(time.Minute)
	ts := httptest.NewServer(s)
	defer ts.Close()
	const peers, rounds = 20, 5
	var wg sync.WaitGroup
	for i := range peers {
		wg.Go(func() {
			for range rounds {
				resp, err := ts.Client().Get(ts.URL + "/announce?" + query(fmt.Sprintf("peer-%d", i), 1000+i))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				_ = s.Peers(hash)
			}
		})
	}
	wg.Wait()
	if got := s.Announces(); got != peers*rounds {
		t.Errorf("Announces() = %d, want %d", got, peers*rounds)
	}
	if got := len(s.Peers(hash)); got != peers {
		t.Errorf("swarm has %d peers, want %d", got, peers)
	}
}
