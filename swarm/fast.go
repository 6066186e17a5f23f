package swarm

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
)

// allowedFastCount is how many pieces we let a choked peer request (BEP 6
// suggests 10).
const allowedFastCount = 10

// allowedFastSet computes BEP 6's allowed-fast pieces for a peer address:
// hashes seeded with the peer's /24 (IPv4) and the info-hash pick k
// distinct piece indices.
func allowedFastSet(addr netip.Addr, infoHash [20]byte, numPieces, k int) []int {
	if numPieces <= 0 || !addr.Is4() && !addr.Is4In6() {
		return nil
	}
	k = min(k, numPieces)
	ip := addr.Unmap().As4()
	x := make([]byte, 0, 24)
	x = append(x, ip[0], ip[1], ip[2], 0)
	x = append(x, infoHash[:]...)
	var out []int
	seen := map[int]bool{}
	for len(out) < k {
		sum := sha1.Sum(x)
		x = sum[:]
		for i := 0; i < 5 && len(out) < k; i++ {
			idx := int(binary.BigEndian.Uint32(x[i*4:]) % uint32(numPieces))
			if !seen[idx] {
				seen[idx] = true
				out = append(out, idx)
			}
		}
	}
	return out
}
