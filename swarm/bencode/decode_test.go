package bencode

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"i42e", ""},
		{"d1:ai1e1:bli2e3:xyzee", ""},
		{"d1:bi1e1:ai2ee", ""}, // unsorted keys are accepted
		{"d1:ai1e1:ai2ee", "duplicate dictionary key"},
		{"i01e", "leading zero"},
		{"i-0e", "negative zero"},
		{"5:abc", "exceeds remaining input"},
		{"99999999999999999999:", "overflows"},
		{"i1ei2e", "trailing data"},
		{strings.Repeat("l", 40) + strings.Repeat("e", 40), "nesting deeper"},
		{"", "unexpected end"},
		{"x", "unexpected byte"},
	} {
		_, err := Decode([]byte(tc.in))
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Decode(%q) error = %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestAccessors(t *testing.T) {
	v, err := Decode([]byte("d1:ai-7e1:bl1:x1:ye1:c3:abce"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind() != Dict || v.Get("a").Int() != -7 || v.Get("b").Len() != 2 || v.Get("zz") != nil {
		t.Fatalf("accessors wrong on %q", v)
	}
	if s, ok := v.Get("c").Text(); !ok || s != "abc" {
		t.Errorf("Text = %q, %v", s, ok)
	}
	if _, ok := v.Get("a").Text(); ok {
		t.Error("Text of an integer reported ok")
	}
	var keys []string
	for k, val := range v.Pairs() {
		keys = append(keys, string(k)+"="+val.Kind().String())
	}
	if got := strings.Join(keys, ","); got != "a=integer,b=list,c=string" {
		t.Errorf("Pairs = %s", got)
	}
}

func TestDecodePrefix(t *testing.T) {
	v, rest, err := DecodePrefix([]byte("d8:msg_typei1e5:piecei0eeRAWBYTES"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Get("msg_type").Int() != 1 || string(rest) != "RAWBYTES" {
		t.Errorf("DecodePrefix = %q, %q", v, rest)
	}
	if _, _, err := DecodePrefix([]byte("d8:msg_type")); err == nil {
		t.Error("truncated prefix accepted")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"i1e", "d1:ai1ee", "l1:ae", "d1:bi1e1:ai2ee", "5:abc"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			return
		}
		// Every accessor must be safe on a decoded value.
		_ = v.Kind().String()
		for _, it := range v.Items() {
			_ = it.Len()
		}
		for _, it := range v.Pairs() {
			_, _ = it.Text()
			_ = it.Int()
		}
		if p, rest, err := DecodePrefix(data); err != nil || len(rest) != 0 || string(p) != string(v) {
			t.Fatalf("DecodePrefix disagrees with Decode: %v", err)
		}
	})
}
