package bitfield

import (
	"bytes"
	"testing"
)

func TestSetHasClear(t *testing.T) {
	f := New(10)
	for _, i := range []int{0, 7, 8, 9, 9} {
		f.Set(i)
	}
	f.Set(-1)
	f.Set(10)
	if f.Count() != 4 {
		t.Fatalf("count = %d, want 4", f.Count())
	}
	if want := []byte{0x81, 0xc0}; !bytes.Equal(f.Bytes(), want) {
		t.Fatalf("bytes = %x, want %x", f.Bytes(), want)
	}
	for i, want := range []bool{true, false, false, false, false, false, false, true, true, true} {
		if f.Has(i) != want {
			t.Errorf("Has(%d) = %v", i, !want)
		}
	}
	f.Clear(7)
	f.Clear(7)
	if f.Has(7) || f.Count() != 3 {
		t.Fatalf("after clear: has=%v count=%d", f.Has(7), f.Count())
	}
	if f.Full() {
		t.Fatal("full too early")
	}
	f.SetAll()
	if !f.Full() || !bytes.Equal(f.Bytes(), []byte{0xff, 0xc0}) {
		t.Fatalf("SetAll: %x full=%v", f.Bytes(), f.Full())
	}
}

func TestFromBytes(t *testing.T) {
	tests := []struct {
		name  string
		b     []byte
		n     int
		count int
		ok    bool
	}{
		{"exact", []byte{0xf0, 0x80}, 9, 5, true},
		{"multiple of 8", []byte{0xff}, 8, 8, true},
		{"too short", []byte{0xff}, 9, 0, false},
		{"too long", []byte{0xff, 0, 0}, 9, 0, false},
		{"spare bit", []byte{0xff, 0x40}, 9, 0, false},
		{"empty", nil, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := FromBytes(tt.b, tt.n)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && f.Count() != tt.count {
				t.Fatalf("count = %d, want %d", f.Count(), tt.count)
			}
		})
	}
}

func TestCloneIndependent(t *testing.T) {
	f := New(16)
	f.Set(3)
	g := f.Clone()
	g.Set(4)
	if f.Has(4) || !g.Has(3) {
		t.Fatal("clone shares storage")
	}
}
