package tracker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/tracker"
	"github.com/btfs/btfs/swarm/tracker/trackertest"
)

func id20(s string) (b [20]byte) {
	copy(b[:], s)
	return b
}

func announce(t *testing.T, c *tracker.Client, base string, peer string, port uint16, ev tracker.Event) *tracker.Response {
	t.Helper()
	resp, err := c.Announce(t.Context(), tracker.Request{
		URL: base + "/announce", InfoHash: id20("infohash-aaaaaaaaaaa"), PeerID: id20(peer),
		Port: port, Left: 100, Event: ev, NumWant: 50,
	})
	if err != nil {
		t.Fatalf("announce %s: %v", peer, err)
	}
	return resp
}

func TestAnnounceTrackertest(t *testing.T) {
	srv := trackertest.New(2 * time.Second)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := &tracker.Client{HTTP: ts.Client()}

	a := announce(t, c, ts.URL, "peer-a", 1001, tracker.EventStarted)
	if len(a.Peers) != 0 || a.Interval != 2*time.Second || a.Incomplete != 1 {
		t.Fatalf("first announce: %+v", a)
	}
	b := announce(t, c, ts.URL, "peer-b", 1002, tracker.EventStarted)
	if want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1001")}; !slices.Equal(b.Peers, want) {
		t.Fatalf("b sees %v, want %v", b.Peers, want)
	}
	a = announce(t, c, ts.URL, "peer-a", 1001, tracker.EventNone)
	if want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1002")}; !slices.Equal(a.Peers, want) {
		t.Fatalf("a sees %v, want %v", a.Peers, want)
	}
	if a.Incomplete != 2 {
		t.Fatalf("incomplete = %d, want 2", a.Incomplete)
	}

	announce(t, c, ts.URL, "peer-b", 1002, tracker.EventStopped)
	a = announce(t, c, ts.URL, "peer-a", 1001, tracker.EventNone)
	if len(a.Peers) != 0 {
		t.Fatalf("after b stopped, a sees %v", a.Peers)
	}
	if got := srv.Peers(id20("infohash-aaaaaaaaaaa")); len(got) != 1 {
		t.Fatalf("server swarm = %v, want only a", got)
	}
	if got := srv.Announces(); got != 5 {
		t.Fatalf("Announces() = %d, want 5", got)
	}
}

// TestAnnounceForms serves canned bodies in each peer list form.
func TestAnnounceForms(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"compact", "d8:intervali60e5:peers12:\x01\x02\x03\x04\x1a\xe1\x05\x06\x07\x08\x00\x50e",
			[]string{"1.2.3.4:6881", "5.6.7.8:80"}},
		{"dictionary", "d8:intervali60e5:peersld2:ip8:10.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881eed2:ip7:bad.ip!4:porti1eeee",
			[]string{"10.0.0.1:6881"}},
		{"peers6", "d8:intervali60e5:peers0:6:peers618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\xbbe",
			[]string{"[2001:db8::1]:443"}},
		{"both deduped", "d8:intervali60e5:peers12:\x01\x02\x03\x04\x1a\xe1\x01\x02\x03\x04\x1a\xe1" +
			"6:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x01\x02\x03\x04\x1a\xe1e",
			[]string{"1.2.3.4:6881"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tt.body))
			}))
			defer ts.Close()
			resp, err := (&tracker.Client{}).Announce(t.Context(), tracker.Request{URL: ts.URL + "/announce", NumWant: -1})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range resp.Peers {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("peers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAnnounceErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		client  *tracker.Client // nil: the zero Client
		timeout time.Duration
		check   func(error) bool
	}{
		{name: "failure reason",
			handler: body("d14:failure reason12:torrent gonee"),
			check: func(err error) bool {
				var fe *tracker.FailureError
				return errors.As(err, &fe) && fe.Reason == "torrent gone"
			}},
		{name: "garbage body", handler: body("<html>hello</html>"), check: contains("decode response")},
		{name: "empty body", handler: body(""), check: contains("truncated")},
		{name: "oversized body", handler: body("d5:peers" + "2000:" + strings.Repeat("x", 2000) + "e"),
			client: &tracker.Client{MaxBody: 1000}, check: contains("exceeds 1000 bytes")},
		{name: "500 status",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, strings.Repeat("boom ", 100), http.StatusInternalServerError)
			},
			check: func(err error) bool {
				s := err.Error()
				return strings.Contains(s, "500 Internal Server Error") && strings.Contains(s, "boom") && len(s) < 300
			}},
		{name: "slow response honours ctx", timeout: 50 * time.Millisecond,
			handler: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			},
			check: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(tt.handler)
			defer ts.Close()
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			u := ts.URL + "/announce"
			c := tt.client
			if c == nil {
				c = &tracker.Client{}
			}
			start := time.Now()
			resp, err := c.Announce(ctx, tracker.Request{URL: u, NumWant: -1})
			if err == nil {
				t.Fatalf("got %+v, want error", resp)
			}
			if !strings.HasPrefix(err.Error(), "tracker "+u+": ") || !tt.check(err) {
				t.Fatalf("unexpected error: %v", err)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
		})
	}
}

func body(s string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(s)) }
}

func contains(sub string) func(error) bool {
	return func(err error) bool { return strings.Contains(err.Error(), sub) }
}

func TestAnnounceUnsupportedScheme(t *testing.T) {
	for _, u := range []string{"wss://tracker.example/announce", "ws://x/announce", "::bad", "udp://127.0.0.1/no-port"} {
		t.Run(u, func(t *testing.T) {
			_, err := (&tracker.Client{}).Announce(t.Context(), tracker.Request{URL: u})
			if err == nil || !strings.HasPrefix(err.Error(), "tracker "+u+": ") {
				t.Fatalf("err = %v", err)
			}
			if strings.HasPrefix(u, "ws") && !errors.Is(err, tracker.ErrUnsupportedScheme) {
				t.Fatalf("err = %v, want ErrUnsupportedScheme", err)
			}
		})
	}
}

// TestAnnounceQueryBytes checks on the server side that binary parameters
// arrive byte-exact and that the announce URL's own query is kept.
func TestAnnounceQueryBytes(t *testing.T) {
	ih := id20("\x00 \xff&%=+?#/\x7f\x80abcXYZ~._-")
	pid := id20("-BT0001-\x00\x01\x02\xfe\xff%26&&&&&")
	got := make(chan url.Values, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			t.Errorf("server cannot parse query %q: %v", r.URL.RawQuery, err)
		}
		got <- q
		w.Write([]byte("d8:intervali60ee"))
	}))
	defer ts.Close()

	_, err := (&tracker.Client{}).Announce(t.Context(), tracker.Request{
		URL: ts.URL + "/announce?passkey=s3cr%2Ft#frag", InfoHash: ih, PeerID: pid, Port: 6881,
		Left: 5, Event: tracker.EventCompleted, NumWant: 7, Key: 0x1234abcd, TrackerID: "t&id",
	})
	if err != nil {
		t.Fatal(err)
	}
	q := <-got
	want := map[string]string{
		"info_hash": string(ih[:]), "peer_id": string(pid[:]), "passkey": "s3cr/t",
		"port": "6881", "uploaded": "0", "downloaded": "0", "left": "5", "compact": "1",
		"event": "completed", "numwant": "7", "key": "1234ABCD", "trackerid": "t&id",
	}
	for k, v := range want {
		if vs := q[k]; len(vs) != 1 || vs[0] != v {
			t.Errorf("%s = %q, want [%q]", k, vs, v)
		}
	}
	if len(q) != len(want) {
		t.Errorf("query has %d keys, want %d: %v", len(q), len(want), q)
	}
}

// TestAnnounceHTTPFields checks every optional response key over HTTP.
func TestAnnounceHTTPFields(t *testing.T) {
	ts := httptest.NewServer(body("d8:completei5e10:incompletei6e8:intervali900e12:min intervali60e" +
		"5:peers6:\x7f\x00\x00\x02\x1a\xe16:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2" +
		"10:tracker id5:tid-715:warning message7:be nicee"))
	defer ts.Close()
	resp, err := (&tracker.Client{}).Announce(t.Context(), tracker.Request{URL: ts.URL + "/announce", NumWant: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := tracker.Response{
		Interval: 15 * time.Minute, MinInterval: time.Minute, Complete: 5, Incomplete: 6,
		Warning: "be nice", TrackerID: "tid-7",
		Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.2:6881"), netip.MustParseAddrPort("[::1]:6882")},
	}
	if resp.Interval != want.Interval || resp.MinInterval != want.MinInterval || resp.Complete != 5 ||
		resp.Incomplete != 6 || resp.Warning != want.Warning || resp.TrackerID != want.TrackerID ||
		!slices.Equal(resp.Peers, want.Peers) {
		t.Fatalf("got %+v, want %+v", resp, want)
	}
}

func TestAnnounceRedirects(t *testing.T) {
	var ts *httptest.Server
	ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /hop/N/announce redirects to /hop/N-1/announce, keeping the query;
		// /hop/0/announce answers.
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/hop/%d/announce", &n); err != nil {
			http.NotFound(w, r)
			return
		}
		if n == 0 {
			if r.URL.Query().Get("port") != "6881" {
				t.Errorf("query lost on redirect: %q", r.URL.RawQuery)
			}
			w.Write([]byte("d8:intervali60ee"))
			return
		}
		http.Redirect(w, r, fmt.Sprintf("%s/hop/%d/announce?%s", ts.URL, n-1, r.URL.RawQuery), http.StatusFound)
	}))
	defer ts.Close()
	for _, hops := range []int{1, 5, 6} {
		u := fmt.Sprintf("%s/hop/%d/announce", ts.URL, hops)
		for name, c := range map[string]*tracker.Client{"default": {}, "own http": {HTTP: ts.Client()}} {
			_, err := c.Announce(t.Context(), tracker.Request{URL: u, Port: 6881, NumWant: -1})
			if hops <= 5 && err != nil {
				t.Errorf("%s, %d redirects: %v", name, hops, err)
			}
			if hops > 5 && (err == nil || !strings.Contains(err.Error(), "stopped after 5 redirects") ||
				!strings.HasPrefix(err.Error(), "tracker "+u+": ")) {
				t.Errorf("%s, %d redirects: err = %v", name, hops, err)
			}
		}
	}
}
