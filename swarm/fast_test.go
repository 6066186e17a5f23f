package swarm

import (
	"encoding/hex"
	"net/netip"
	"slices"
	"testing"
)

// TestAllowedFastSet checks the BEP 6 example: peer 80.4.4.200, an
// info-hash of 20 0xaa bytes and 1313 pieces give these sets for k=7 and
// k=9.
func TestAllowedFastSet(t *testing.T) {
	var ih [20]byte
	b, _ := hex.DecodeString("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	copy(ih[:], b)
	addr := netip.MustParseAddr("80.4.4.200")
	if got, want := allowedFastSet(addr, ih, 1313, 7), []int{1059, 431, 808, 1217, 287, 376, 1188}; !slices.Equal(got, want) {
		t.Errorf("k=7: got %v, want %v", got, want)
	}
	if got, want := allowedFastSet(addr, ih, 1313, 9), []int{1059, 431, 808, 1217, 287, 376, 1188, 353, 508}; !slices.Equal(got, want) {
		t.Errorf("k=9: got %v, want %v", got, want)
	}
	if got := allowedFastSet(addr, ih, 3, 10); len(got) != 3 {
		t.Errorf("k capped by piece count: got %v", got)
	}
	if got := allowedFastSet(netip.MustParseAddr("::1"), ih, 100, 10); got != nil {
		t.Errorf("IPv6 has no set: got %v", got)
	}
}
