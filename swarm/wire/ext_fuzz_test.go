package wire

import (
	"reflect"
	"testing"
	"unicode/utf8"
)

func FuzzExtHandshake(f *testing.F) {
	f.Add([]byte("d1:md11:ut_metadatai3ee13:metadata_sizei31235ee"))
	f.Add([]byte("d1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei5205e4:reqqi500e11:upload_onlyi1e1:v17:qBittorrent/4.6.46:yourip4:\x7f\x00\x00\x01e"))
	f.Add([]byte("d1:pi65536e4:reqqi-1e1:v3:\xff\xfe\x00e"))
	f.Add([]byte("d6:yourip16:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x01\x02\x03\x04e"))
	f.Add([]byte("de"))
	f.Add([]byte("d13:metadata_sizei-1ee"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseExtHandshake(data)
		if err != nil {
			return
		}
		if len(h.M) > MaxExtNames || len(h.V) > MaxClientLen || !utf8.ValidString(h.V) ||
			h.Reqq < 0 || h.Reqq > MaxReqq || h.MetadataSize < 0 {
			t.Fatalf("bounds broken: %+v", h)
		}
		for name := range h.M {
			if len(name) == 0 || len(name) > MaxExtNameLen {
				t.Fatalf("name %q kept", name)
			}
		}
		if h.YourIP.IsValid() && h.YourIP.Is4In6() {
			t.Fatalf("yourip %v not unmapped", h.YourIP)
		}
		// Re-encoding and parsing again gives the same handshake.
		enc, err := h.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", h, err)
		}
		back, err := ParseExtHandshake(enc)
		if err != nil {
			t.Fatalf("parse re-encoded %q: %v", enc, err)
		}
		if h.M == nil {
			h.M = map[string]uint8{} // "m" is always encoded
		}
		if !reflect.DeepEqual(back, h) {
			t.Fatalf("re-parsed %+v, want %+v", back, h)
		}
	})
}
