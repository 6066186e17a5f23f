package tracker

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedTID is the transaction id of the datagrams under testdata/udp.
const seedTID = 0x01020304

func readUDP(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "udp", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseUDPReply(t *testing.T) {
	tests := []struct {
		file    string
		want    uint32 // action waited for
		addrLen int
		reply   udpReply
		fail    bool // want a *FailureError with reason failure
		failure string
		wantErr string
	}{
		{file: "connect.bin", want: actionConnect, reply: udpReply{connID: 0x1122334455667788}},
		{file: "connect_long.bin", want: actionConnect, reply: udpReply{connID: 0x1122334455667788}},
		{file: "connect_short.bin", want: actionConnect, wantErr: "connect response is 10 bytes"},
		{file: "connect.bin", want: actionAnnounce, reply: udpReply{ignore: true}},
		{file: "announce4.bin", want: actionAnnounce, addrLen: 4, reply: udpReply{resp: &Response{
			Interval: 30 * time.Minute, Incomplete: 3, Complete: 4,
			Peers: addrs("127.0.0.2:6881", "127.0.0.3:80"),
		}}},
		{file: "announce6.bin", want: actionAnnounce, addrLen: 16, reply: udpReply{resp: &Response{
			Interval: time.Minute, Complete: 1, Peers: addrs("[::1]:6881", "127.0.0.1:80"),
		}}},
		{file: "announce4.bin", want: actionAnnounce, addrLen: 16, wantErr: "multiple of 18"},
		{file: "announce_negative.bin", want: actionAnnounce, addrLen: 4, reply: udpReply{resp: &Response{
			Interval: 30 * time.Minute, Complete: 1<<31 - 1,
		}}},
		{file: "announce_misaligned.bin", want: actionAnnounce, addrLen: 4, wantErr: "27 bytes"},
		{file: "announce_short.bin", want: actionAnnounce, addrLen: 4, wantErr: "12 bytes"},
		{file: "announce4.bin", want: actionConnect, reply: udpReply{ignore: true}},
		{file: "error.bin", want: actionAnnounce, addrLen: 4, fail: true, failure: "unregistered torrent"},
		{file: "error.bin", want: actionConnect, fail: true, failure: "unregistered torrent"},
		{file: "error_empty.bin", want: actionConnect, fail: true, failure: ""},
		{file: "error_binary.bin", want: actionConnect, fail: true, failure: "\uFFFD\x00bad"},
		{file: "scrape.bin", want: actionAnnounce, addrLen: 4, reply: udpReply{ignore: true}},
		{file: "tiny.bin", want: actionAnnounce, addrLen: 4, reply: udpReply{ignore: true}},
		{file: "empty.bin", want: actionConnect, reply: udpReply{ignore: true}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseUDPReply(readUDP(t, tt.file), tt.want, seedTID, tt.addrLen)
			var fe *FailureError
			switch {
			case tt.fail:
				if !errors.As(err, &fe) || fe.Reason != tt.failure {
					t.Fatalf("err = %v, want failure %q", err, tt.failure)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !reflect.DeepEqual(got, tt.reply):
				t.Fatalf("got  %+v\nwant %+v", got, tt.reply)
			}
		})
	}
	// Any other transaction id is not ours.
	if r, err := parseUDPReply(readUDP(t, "error.bin"), actionAnnounce, seedTID+1, 4); err != nil || !r.ignore {
		t.Fatalf("foreign transaction: %+v, %v", r, err)
	}
}

func TestAppendUDPRequests(t *testing.T) {
	if got := appendConnect(nil, seedTID); string(got) != "\x00\x00\x04\x17\x27\x10\x19\x80\x00\x00\x00\x00\x01\x02\x03\x04" {
		t.Fatalf("connect = %x", got)
	}
	req := Request{Downloaded: -1, Left: -2, Uploaded: -3, Event: Event(42), NumWant: -7}
	b := appendAnnounce(nil, 7, seedTID, req)
	if len(b) != announceReqLen {
		t.Fatalf("announce is %d bytes", len(b))
	}
	be := binary.BigEndian
	if be.Uint64(b) != 7 || be.Uint32(b[8:]) != actionAnnounce || be.Uint32(b[12:]) != seedTID ||
		be.Uint64(b[56:]) != 0 || be.Uint64(b[64:]) != 0 || be.Uint64(b[72:]) != 0 ||
		be.Uint32(b[80:]) != 0 || be.Uint32(b[92:]) != 0xffffffff {
		t.Fatalf("announce = %x", b)
	}
}

func FuzzUDPResponse(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "udp"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(readUDP(f, e.Name()))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxDatagram {
			return
		}
		tid := uint32(seedTID)
		if len(b) >= 8 {
			tid = binary.BigEndian.Uint32(b[4:8]) // exercise the matching paths
		}
		for _, want := range []uint32{actionConnect, actionAnnounce} {
			for _, addrLen := range []int{4, 16} {
				r, err := parseUDPReply(b, want, tid, addrLen)
				if err != nil {
					if r != (udpReply{}) {
						t.Fatalf("error %v with a reply %+v", err, r)
					}
					continue
				}
				checkUDPReply(t, r, want, addrLen)
			}
		}
	})
}

func checkUDPReply(t *testing.T, r udpReply, want uint32, addrLen int) {
	t.Helper()
	if r.ignore || want == actionConnect {
		if r.resp != nil {
			t.Fatalf("unexpected response %+v", r.resp)
		}
		return
	}
	resp := r.resp
	if resp == nil || resp.Interval <= 0 || resp.Interval > maxInterval || resp.Complete < 0 || resp.Incomplete < 0 {
		t.Fatalf("out-of-range response %+v", resp)
	}
	seen := make(map[netip.AddrPort]bool)
	for _, p := range resp.Peers {
		if seen[p] || !usable(p) || p.Addr().Is4In6() || (addrLen == 4 && !p.Addr().Is4()) {
			t.Fatalf("bad or duplicate peer %v", p)
		}
		seen[p] = true
	}
}
