package metadata

import (
	"crypto/sha1"
	"slices"
)

// maxFailed bounds the failed attempts that prove nobody a liar. The
// maxFailed-th of them, and every one after it, bans all its contributors,
// so that a fetch among liars alone still ends; honest peers in such an
// attempt are lost with the liars.
const maxFailed = 8

// failure is what a failed attempt leaves behind: per piece, who sent it
// and the SHA-1 of what they sent. The Fetcher keeps at most maxFailed-1,
// each at most MaxPieces × (20 bytes + the size of K).
type failure[K comparable] struct {
	size int
	from []K
	sums [][20]byte
}

// pieceSums returns the SHA-1 of each piece of an info dictionary b.
func pieceSums(b []byte) [][20]byte {
	sums := make([][20]byte, numPieces(len(b)))
	for i := range sums {
		sums[i] = sha1.Sum(b[i*PieceSize : i*PieceSize+pieceLen(len(b), i)])
	}
	return sums
}

// ban bans k and appends it to bad, unless it was banned before.
func (f *Fetcher[K]) ban(bad []K, k K) []K {
	if _, ok := f.banned[k]; ok {
		return bad
	}
	f.banned[k] = struct{}{}
	delete(f.peers, k)
	return append(bad, k)
}

// blame judges the complete attempt a, which failed verification, and
// returns the peers it bans: a lone contributor; any contributor that sent
// a piece other than it sent for the same piece in a remembered failure (an
// honest peer always sends the same bytes); or, when neither applies and
// maxFailed-1 failures proved nobody already, every contributor. Unless all
// its contributors are banned, the failure is remembered.
func (f *Fetcher[K]) blame(a *attempt[K]) []K {
	sums := pieceSums(a.buf)
	var bad []K
	for _, r := range f.failed {
		if r.size != a.size {
			continue
		}
		for i, k := range r.from {
			if k == a.from[i] && r.sums[i] != sums[i] {
				bad = f.ban(bad, k)
			}
		}
	}
	var from []K // the distinct contributors
	for _, k := range a.from {
		if !slices.Contains(from, k) {
			from = append(from, k)
		}
	}
	switch {
	case len(from) == 1:
		return f.ban(bad, from[0])
	case len(bad) > 0:
	case f.unproven >= maxFailed-1:
		for _, k := range from {
			bad = f.ban(bad, k)
		}
		return bad
	default:
		f.unproven++
	}
	if len(f.failed) == maxFailed-1 {
		f.failed = slices.Delete(f.failed, 0, 1)
	}
	f.failed = append(f.failed, failure[K]{size: a.size, from: a.from, sums: sums})
	f.susp = nil
	return bad
}

// convict is called once info is verified. It bans every remembered
// contributor that sent a piece other than info's, or any piece of a size
// other than info's (in a failure or an abandoned attempt), returns them,
// and forgets the failures and abandoned attempts.
func (f *Fetcher[K]) convict(info []byte) []K {
	var bad []K
	for _, r := range f.strays {
		if r.size != len(info) {
			for _, k := range r.from {
				bad = f.ban(bad, k)
			}
		}
	}
	f.strays = nil
	var sums [][20]byte
	for _, r := range f.failed {
		if r.size != len(info) {
			for _, k := range r.from {
				bad = f.ban(bad, k)
			}
			continue
		}
		if sums == nil {
			sums = pieceSums(info)
		}
		for i, k := range r.from {
			if r.sums[i] != sums[i] {
				bad = f.ban(bad, k)
			}
		}
	}
	f.failed, f.susp = nil, nil
	return bad
}
