package tracker

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readResponse(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "responses", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func addrs(s ...string) []netip.AddrPort {
	out := make([]netip.AddrPort, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddrPort(a)
	}
	return out
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		file    string
		want    *Response
		failure string // want a *FailureError with this reason
		wantErr string // want another error containing this
	}{
		{file: "compact.benc", want: &Response{
			Interval: 900 * time.Second, MinInterval: time.Minute,
			Peers:    addrs("1.2.3.4:6881", "5.6.7.8:80"),
			Complete: 1, Incomplete: 2, Warning: "be nice", TrackerID: "tid-1",
		}},
		{file: "dict.benc", want: &Response{
			Interval: time.Minute,
			Peers:    addrs("10.0.0.1:6881", "[2001:db8::1]:443"),
		}},
		{file: "peers6.benc", want: &Response{
			Interval: 30 * time.Minute,
			Peers:    addrs("[2001:db8::2]:51413", "7.7.7.7:7"),
		}},
		{file: "nointerval.benc", want: &Response{Interval: 30 * time.Minute}},
		{file: "clamped.benc", want: &Response{
			Interval: 24 * time.Hour, Incomplete: 1<<31 - 1,
		}},
		{file: "failure.benc", failure: "unregistered torrent"},
		{file: "garbage.txt", wantErr: "unexpected byte"},
		{file: "deep.benc", wantErr: "nesting"},
		{file: "hugestring.benc", wantErr: "truncated"},
		{file: "trailing.benc", wantErr: "trailing"},
		{file: "notdict.benc", wantErr: "not a dictionary"},
		{file: "badint.benc", wantErr: "invalid integer"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := decodeResponse(readResponse(t, tt.file))
			var fe *FailureError
			switch {
			case tt.failure != "":
				if !errors.As(err, &fe) || fe.Reason != tt.failure {
					t.Fatalf("err = %v, want failure %q", err, tt.failure)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !reflect.DeepEqual(got, tt.want):
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeBencode(t *testing.T) {
	tests := []struct {
		in      string
		want    any
		wantErr bool
	}{
		{in: "i42e", want: int64(42)},
		{in: "i-7e", want: int64(-7)},
		{in: "i0e", want: int64(0)},
		{in: "4:spam", want: "spam"},
		{in: "0:", want: ""},
		{in: "l1:ai1ee", want: []any{"a", int64(1)}},
		{in: "d1:bi2e1:a0:e", want: map[string]any{"a": "", "b": int64(2)}},
		{in: "de\n", want: map[string]any{}},
		{in: "", wantErr: true},
		{in: "i-0e", wantErr: true},
		{in: "i01e", wantErr: true},
		{in: "i+1e", wantErr: true},
		{in: "ie", wantErr: true},
		{in: "i99999999999999999999e", wantErr: true},
		{in: "i1", wantErr: true},
		{in: "5:abc", wantErr: true},
		{in: "99999999999:a", wantErr: true},
		{in: "-1:a", wantErr: true},
		{in: "l", wantErr: true},
		{in: "di1ei2ee", wantErr: true},
		{in: "d1:a", wantErr: true},
		{in: "i1ei2e", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := decodeBencode([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestAnnounceQuery(t *testing.T) {
	var ih, id [20]byte
	copy(ih[:], "\x00 \xff&%=+~.-_aZ9/?#")
	copy(id[:], "-BT0001-abcdefghijkl")
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"minimal", Request{InfoHash: ih, PeerID: id, Port: 6881, Left: 10, NumWant: -1},
			"info_hash=%00%20%FF%26%25%3D%2B~.-_aZ9%2F%3F%23%00%00%00&peer_id=-BT0001-abcdefghijkl" +
				"&port=6881&uploaded=0&downloaded=0&left=10&compact=1"},
		{"all", Request{InfoHash: ih, PeerID: id, Port: 1, Uploaded: 2, Downloaded: 3, Event: EventStopped,
			NumWant: 0, Key: 0xbeef, TrackerID: "a b"},
			"info_hash=%00%20%FF%26%25%3D%2B~.-_aZ9%2F%3F%23%00%00%00&peer_id=-BT0001-abcdefghijkl" +
				"&port=1&uploaded=2&downloaded=3&left=0&compact=1&event=stopped&numwant=0&key=0000BEEF&trackerid=a%20b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := announceQuery(tt.req); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestEventString(t *testing.T) {
	for e, want := range map[Event]string{
		EventNone: "", EventStarted: "started", EventCompleted: "completed", EventStopped: "stopped", Event(99): "",
	} {
		if got := e.String(); got != want {
			t.Errorf("Event(%d).String() = %q, want %q", int(e), got, want)
		}
	}
}

func FuzzDecodeResponse(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "responses"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(readResponse(f, e.Name()))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeResponse(body)
		if err != nil {
			return
		}
		if r.Interval <= 0 || r.Interval > maxInterval || r.MinInterval < 0 || r.Complete < 0 || r.Incomplete < 0 {
			t.Fatalf("out-of-range response %+v", r)
		}
		seen := make(map[netip.AddrPort]bool)
		for _, p := range r.Peers {
			if seen[p] || !usable(p) || p.Addr().Is4In6() {
				t.Fatalf("bad or duplicate peer %v", p)
			}
			seen[p] = true
		}
	})
}
