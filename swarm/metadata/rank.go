package metadata

import "slices"

// standing is how suspect a peer looks after the remembered failures of one
// size.
type standing struct {
	disputes int // peers that sent other bytes for a piece it sent
	agrees   int // peers that sent the same bytes for a piece it sent, and never other bytes
	fails    int // failures it contributed to
}

// suspicion is what the remembered failures of one size say about peers.
type suspicion[K comparable] struct {
	size  int
	recs  []*failure[K]
	stand map[K]standing
	alone [][]bool // per failure in recs, per piece: no other peer sent the same bytes
}

// suspicion returns what the remembered failures of size say. It is derived
// from f.failed, and computed again only when they or the size change.
func (f *Fetcher[K]) suspicion(size int) *suspicion[K] {
	if s := f.susp; s != nil && s.size == size {
		return s
	}
	s := &suspicion[K]{size: size, stand: make(map[K]standing)}
	for i := range f.failed {
		if r := &f.failed[i]; r.size == size {
			s.recs = append(s.recs, r)
			alone := make([]bool, len(r.from))
			for j := range alone {
				alone[j] = true
			}
			s.alone = append(s.alone, alone)
		}
	}
	disputed, agreed := make(map[[2]K]bool), make(map[[2]K]bool) // pairs of peers
	for x, r := range s.recs {
		fails := make(map[K]bool)
		for i, k := range r.from {
			if !fails[k] {
				fails[k] = true
				st := s.stand[k]
				st.fails++
				s.stand[k] = st
			}
			for y, o := range s.recs[x+1:] {
				q := o.from[i]
				switch {
				case q == k:
				case o.sums[i] == r.sums[i]:
					s.alone[x][i], s.alone[x+1+y][i] = false, false
					agreed[[2]K{k, q}], agreed[[2]K{q, k}] = true, true
				default:
					disputed[[2]K{k, q}], disputed[[2]K{q, k}] = true, true
				}
			}
		}
	}
	for pair := range disputed {
		st := s.stand[pair[0]]
		st.disputes++
		s.stand[pair[0]] = st
	}
	for pair := range agreed {
		if !disputed[pair] {
			st := s.stand[pair[0]]
			st.agrees++
			s.stand[pair[0]] = st
		}
	}
	f.susp = s
	return s
}

// view ranks the peers claiming an attempt's size for each of its pieces,
// by the remembered failures of that size. A peer's rank for a piece is,
// least suspect first:
//   - whether it is suspected for that piece: it sent it in a remembered
//     failure and no other peer sent the same bytes;
//   - its standing: disputes less agreements, then failures contributed to;
//   - whether it has no piece stored in the attempt and no request in
//     flight, so that an attempt tends to few contributors.
//
// Once soloAfter failures proved nobody, the pieces a peer is suspected for
// no longer count and being in the attempt counts first: each attempt goes
// to one peer, the best standing first, so that its failure proves that
// peer a liar instead of counting towards maxFailed.
type view[K comparable] struct {
	f     *Fetcher[K]
	s     *suspicion[K]
	solo  bool
	g     map[K][3]int // per peer, its rank less the first element
	order []K          // peers claiming the attempt's size, by g
}

// soloAfter is the number of failures proving nobody after which attempts
// go to one peer each.
const soloAfter = maxFailed / 2

// view returns the view for a, or nil when no failure of a's size is
// remembered: then every peer ranks the same.
func (f *Fetcher[K]) view(a *attempt[K]) *view[K] {
	if !slices.ContainsFunc(f.failed, func(r failure[K]) bool { return r.size == a.size }) {
		return nil
	}
	v := &view[K]{f: f, s: f.suspicion(a.size), solo: f.unproven >= soloAfter, g: make(map[K][3]int)}
	in := make(map[K]bool) // peers with a piece stored in a or a request in flight
	for i, have := range a.have {
		if have {
			in[a.from[i]] = true
		}
	}
	for k, p := range f.peers {
		if p.size == a.size {
			v.order = append(v.order, k)
			in[k] = in[k] || len(p.reqs) > 0
		}
	}
	for _, k := range v.order {
		s, out := v.s.stand[k], 1
		if in[k] {
			out = 0
		}
		if v.solo {
			v.g[k] = [3]int{out, s.disputes - s.agrees, s.fails}
		} else {
			v.g[k] = [3]int{s.disputes - s.agrees, s.fails, out}
		}
	}
	slices.SortFunc(v.order, func(k, q K) int {
		a, b := v.g[k], v.g[q]
		return slices.Compare(a[:], b[:])
	})
	return v
}

// rank returns k's rank for piece i; the lesser is the better.
func (v *view[K]) rank(k K, i int) [4]int {
	g := v.g[k]
	r := [4]int{0, g[0], g[1], g[2]}
	for x, rec := range v.s.recs {
		if !v.solo && rec.from[i] == k && v.s.alone[x][i] {
			r[0] = 1
		}
	}
	return r
}

// eligible reports whether k may be asked for piece i: no other peer that
// could be asked for it ranks better. A peer cannot be asked for a piece it
// rejected, or whose request for it expired unanswered. With a nil view
// every peer is eligible.
func (v *view[K]) eligible(k K, i int) bool {
	if v == nil {
		return true
	}
	mine := v.rank(k, i)
	for _, q := range v.order {
		if a, b := v.g[q], v.g[k]; mine[0] == 0 && slices.Compare(a[:], b[:]) >= 0 {
			break // the rest rank no better than k
		}
		if q == k || v.stale(q, i) {
			continue
		}
		if r := v.rank(q, i); slices.Compare(r[:], mine[:]) < 0 {
			return false
		}
	}
	return true
}

// stale reports whether q rejected piece i or let a request for it expire,
// in this attempt or unanswered since.
func (v *view[K]) stale(q K, i int) bool {
	p := v.f.peers[q]
	if p.slots == nil {
		return false
	}
	s := p.slots[i]
	return s.rejected || s.failed || s.asked > 0 && !slices.ContainsFunc(p.reqs, func(r request) bool { return r.piece == i })
}
