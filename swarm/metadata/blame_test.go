package metadata

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/btfs/btfs/swarm/wire"
)

// forge returns a copy of info with the first byte of every listed piece
// changed by x; with no pieces listed, of every piece.
func forge(info []byte, x byte, pieces ...int) []byte {
	b := bytes.Clone(info)
	if len(pieces) == 0 {
		for i := range numPieces(len(b)) {
			pieces = append(pieces, i)
		}
	}
	for _, i := range pieces {
		b[i*PieceSize] ^= x
	}
	return b
}

// outcome is how a simulated fetch ended.
type outcome struct {
	res      Result[*source] // the last result: Done, or the zero Result when no request could be made
	bad      []*source       // every peer reported bad, in order
	failures []int           // per failed attempt, how many peers it banned
}

// drive runs a fetch among peers until it is done or no request can be
// made. In each round the peers, in the order shuffle leaves them (nil: as
// given), are asked for one piece each in turn until none can be asked;
// then the requests are answered, in the order shuffle leaves them, by
// answer (nil: source.answer). An answer from a peer banned meanwhile is
// skipped: the engine has dropped that peer.
func drive(t *testing.T, f *Fetcher[*source], peers []*source, shuffle func([]int), answer func(s *source, piece int) Msg) outcome {
	t.Helper()
	if answer == nil {
		answer = (*source).answer
	}
	var out outcome
	order := make([]int, len(peers))
	for range 10_000 {
		type req struct {
			s     *source
			piece int
		}
		var reqs []req
		for i := range order {
			order[i] = i
		}
		if shuffle != nil {
			shuffle(order)
		}
		for asked := true; asked; {
			asked = false
			for _, i := range order {
				if piece, ok := f.Next(peers[i], t0); ok {
					reqs, asked = append(reqs, req{peers[i], piece}), true
				}
			}
		}
		if len(reqs) == 0 {
			return out
		}
		idx := make([]int, len(reqs))
		for i := range idx {
			idx[i] = i
		}
		if shuffle != nil {
			shuffle(idx)
		}
		for _, i := range idx {
			r := reqs[i]
			if _, banned := f.banned[r.s]; banned {
				continue
			}
			m := answer(r.s, r.piece)
			if m.Type == Reject {
				f.Reject(r.s, r.piece)
				continue
			}
			before := f.att
			res, err := f.Data(r.s, m)
			if err != nil {
				t.Fatalf("%s piece %d: %v", r.s.name, r.piece, err)
			}
			if !res.Done && before != nil && f.att == nil {
				out.failures = append(out.failures, len(res.Bad))
			}
			out.bad = append(out.bad, res.Bad...)
			if res.Done {
				out.res = res
				return out
			}
		}
	}
	t.Fatal("no result after 10000 rounds")
	return out
}

// names returns the names of peers, sorted.
func names(peers []*source) []string {
	n := []string{}
	for _, s := range peers {
		n = append(n, s.name)
	}
	slices.Sort(n)
	return n
}

func TestFetcherLiars(t *testing.T) {
	info := testInfo(3*PieceSize + 100)
	big := testInfo(40*PieceSize + 100)
	tests := []struct {
		name  string
		info  []byte
		peers []*source // asked in this order: a liar first mixes the first attempt
		bad   []string  // every peer ever reported bad
		done  bool
	}{
		{"liar and two honest", info, []*source{{"liar", forge(info, 1)}, {"a", info}, {"b", info}}, []string{"liar"}, true},
		{"liar and two honest, 41 pieces", big, []*source{{"liar", forge(big, 1)}, {"a", big}, {"b", big}}, []string{"liar"}, true},
		{"liar forging one piece", info, []*source{{"liar", forge(info, 1, 0)}, {"a", info}, {"b", info}}, []string{"liar"}, true},
		{"liar and one honest", info, []*source{{"liar", forge(info, 1)}, {"a", info}}, []string{"liar"}, true},
		{"two liars with different garbage, two honest", info, []*source{
			{"l1", forge(info, 1)}, {"l2", forge(info, 2)}, {"a", info}, {"b", info},
		}, []string{"l1", "l2"}, true},
		{"two liars with different garbage, one honest", info, []*source{
			{"l1", forge(info, 1)}, {"l2", forge(info, 2)}, {"a", info},
		}, []string{"l1", "l2"}, true},
		{"two liars with the same garbage, one honest", info, []*source{
			{"l1", forge(info, 1)}, {"l2", forge(info, 1)}, {"a", info},
		}, []string{"l1", "l2"}, true},
		{"three liars", info, []*source{
			{"l1", forge(info, 1)}, {"l2", forge(info, 2)}, {"l3", forge(info, 3, 0)},
		}, []string{"l1", "l2", "l3"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFetcher(t, tc.info, tc.peers...)
			out := drive(t, f, tc.peers, nil, nil)
			if got := names(out.bad); !slices.Equal(got, tc.bad) {
				t.Errorf("bad %v, want %v (failures %v)", got, tc.bad, out.failures)
			}
			if out.res.Done != tc.done || tc.done && !bytes.Equal(out.res.Info, tc.info) {
				t.Errorf("done %v, want %v", out.res.Done, tc.done)
			}
			if len(out.failures) == 0 || out.failures[0] != 0 {
				t.Errorf("failures %v: want a first failure that bans nobody", out.failures)
			}
			if f.unproven >= soloAfter {
				t.Errorf("%d failures proved nobody", f.unproven)
			}
		})
	}
}

// A liar is the only peer not to have sent a piece in the failed attempt:
// it is asked for that piece, and the next attempt, in which both are
// suspected for every piece, goes to one peer.
func TestFetcherLiarOnlyOther(t *testing.T) {
	info := testInfo(PieceSize + 100)
	a, liar := &source{"a", info}, &source{"liar", forge(info, 1)}
	for _, first := range []*source{a, liar} {
		t.Run(first.name+" first", func(t *testing.T) {
			f := newFetcher(t, info, a, liar)
			step := func(s *source, want int) Result[*source] {
				t.Helper()
				piece, ok := f.Next(s, t0)
				if !ok || piece != want {
					t.Fatalf("Next(%s) = %d, %v; want %d", s.name, piece, ok, want)
				}
				res, err := f.Data(s, s.answer(piece))
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			f.Next(a, t0) // a: 0, liar: 1
			if res := step(liar, 1); res.Done || res.Bad != nil {
				t.Fatalf("%+v", res)
			}
			if res, err := f.Data(a, a.answer(0)); err != nil || res.Done || res.Bad != nil || f.unproven != 1 {
				t.Fatalf("first attempt: %+v, %v; want a failure banning nobody", res, err)
			}
			// a sent 0 and the liar 1: each is asked for the other.
			if piece, ok := f.Next(a, t0); !ok || piece != 1 {
				t.Fatalf("Next(a) = %d, %v; want 1", piece, ok)
			}
			if piece, ok := f.Next(a, t0); ok {
				t.Fatalf("Next(a) = %d; want nothing: the liar alone did not send 0", piece)
			}
			step(liar, 0)
			if res, err := f.Data(a, a.answer(1)); err != nil || res.Done || res.Bad != nil || f.unproven != 2 {
				t.Fatalf("second attempt: %+v, %v; want a failure banning nobody", res, err)
			}
			// Both are suspected for both pieces: whoever is asked first
			// gets the whole attempt.
			other := a
			if first == a {
				other = liar
			}
			step(first, 0)
			if piece, ok := f.Next(other, t0); ok {
				t.Fatalf("Next(%s) = %d; want nothing", other.name, piece)
			}
			res := step(first, 1)
			if first == a {
				if !res.Done || !bytes.Equal(res.Info, info) || !slices.Equal(res.Bad, []*source{liar}) {
					t.Fatalf("%+.40v; want done, the liar bad", res)
				}
				return
			}
			if res.Done || !slices.Equal(res.Bad, []*source{liar}) {
				t.Fatalf("%+.40v; want the liar bad", res)
			}
			out := drive(t, f, []*source{a, liar}, nil, nil)
			if !out.res.Done || out.bad != nil {
				t.Fatalf("after the liar: %+.40v", out)
			}
		})
	}
}

// A peer that sends two versions of one piece is a liar, even in a failed
// attempt with other contributors.
func TestFetcherLiarContradicts(t *testing.T) {
	info := testInfo(2*PieceSize + 100)
	liar, a, b := &source{"liar", forge(info, 1)}, &source{"a", info}, &source{"b", info}
	f := newFetcher(t, info, liar, a, b)
	send := func(order []*source, want map[*source]int) Result[*source] {
		t.Helper()
		for _, s := range order {
			if piece, ok := f.Next(s, t0); !ok || piece != want[s] {
				t.Fatalf("Next(%s) = %d, %v; want %d", s.name, piece, ok, want[s])
			}
		}
		var res Result[*source]
		for _, s := range []*source{liar, a, b} {
			var err error
			if res, err = f.Data(s, s.answer(want[s])); err != nil {
				t.Fatal(err)
			}
		}
		return res
	}
	if res := send([]*source{liar, a, b}, map[*source]int{liar: 0, a: 1, b: 2}); res.Done || res.Bad != nil || f.unproven != 1 {
		t.Fatalf("%+.40v; want a failure banning nobody", res)
	}
	// a and b cannot serve 0: the liar, which sent it, is asked again.
	for _, s := range []*source{a, b} {
		if piece, ok := f.Next(s, t0); !ok || piece != 0 {
			t.Fatalf("Next(%s) = %d, %v; want 0", s.name, piece, ok)
		}
		f.Reject(s, 0)
	}
	liar.info = forge(info, 2)
	if res := send([]*source{a, b, liar}, map[*source]int{a: 2, b: 1, liar: 0}); res.Done || !slices.Equal(res.Bad, []*source{liar}) || f.Peers() != 2 {
		t.Fatalf("%+.40v; want the liar bad", res)
	}
}

// Liars that each serve one piece make every attempt have two contributors:
// the maxFailed-th failure bans its contributors, and so does every one
// after it.
func TestFetcherFailureBound(t *testing.T) {
	info := testInfo(PieceSize + 100)
	var peers []*source
	for i := range 6 {
		peers = append(peers, &source{strconv.Itoa(i), forge(info, byte(1+i))})
	}
	f := newFetcher(t, info, peers...)
	maxKept := 0
	out := drive(t, f, peers, nil, func(s *source, piece int) Msg {
		maxKept = max(maxKept, len(f.failed))
		if n, _ := strconv.Atoi(s.name); n%2 != piece {
			return Msg{Type: Reject, Piece: piece}
		}
		return s.answer(piece)
	})
	want := make([]int, maxFailed-1) // banning nobody
	want = append(want, 2, 2, 2)     // then each bans its two contributors
	if out.res.Done || !slices.Equal(out.failures, want) || f.Peers() != 0 || len(out.bad) != len(peers) {
		t.Fatalf("done %v, failures %v, bad %v, %d peers left; want failures %v and all bad", out.res.Done, out.failures, names(out.bad), f.Peers(), want)
	}
	if maxKept > maxFailed-1 {
		t.Errorf("%d failures remembered", maxKept)
	}
}

// Liars whose claimed size was assembled and failed are bad once an
// attempt of another size verifies.
func TestFetcherLiarsOtherSize(t *testing.T) {
	info := testInfo(2*PieceSize + 100)
	lie := testInfo(PieceSize + 100)
	l1, l2 := &source{"l1", lie}, &source{"l2", forge(lie, 1, 1)}
	f := newFetcher(t, info, l1, l2)
	f.Next(l1, t0)
	f.Next(l2, t0)
	f.Data(l1, l1.answer(0))
	if res, err := f.Data(l2, l2.answer(1)); err != nil || res.Done || res.Bad != nil || f.unproven != 1 {
		t.Fatalf("%+.40v, %v; want a failure banning nobody", res, err)
	}
	peers := []*source{l1, l2, {"a", info}, {"b", info}, {"c", info}}
	for _, s := range peers[2:] {
		if err := f.AddPeer(s, len(info)); err != nil {
			t.Fatal(err)
		}
	}
	out := drive(t, f, peers, nil, nil)
	if !out.res.Done || !slices.Equal(names(out.bad), []string{"l1", "l2"}) {
		t.Fatalf("%+.40v; want done, l1 and l2 bad", out)
	}
}

// Random swarms with at least one honest peer: the fetch completes and no
// honest peer is ever reported.
func TestFetcherRandomLiars(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shuffle := func(s []int) { rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] }) }
	trials := 400
	if testing.Short() {
		trials = 50
	}
	for trial := range trials {
		info, ok := tryInfo(rng.IntN(8)*PieceSize + 20 + rng.IntN(PieceSize-20))
		if !ok {
			continue
		}
		var peers []*source
		honest, liars := 1+rng.IntN(3), rng.IntN(7)
		for i := range honest {
			peers = append(peers, &source{"h" + strconv.Itoa(i), info})
		}
		changing := map[*source]bool{}
		for i := range liars {
			s := &source{"l" + strconv.Itoa(i), nil}
			switch rng.IntN(4) {
			case 0:
				s.info = forge(info, 1) // the same garbage as other liars
			case 1:
				s.info = forge(info, byte(2+i))
			case 2:
				s.info = forge(info, byte(2+i), rng.IntN(numPieces(len(info))))
			case 3:
				s.info, changing[s] = forge(info, byte(2+i)), true
			}
			peers = append(peers, s)
		}
		rng.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
		f := newFetcher(t, info, peers...)
		out := drive(t, f, peers, shuffle, func(s *source, piece int) Msg {
			if changing[s] && rng.IntN(2) == 0 {
				s.info = forge(s.info, byte(1+rng.IntN(255)), piece)
			}
			return s.answer(piece)
		})
		bad := names(out.bad)
		if !out.res.Done || !bytes.Equal(out.res.Info, info) || slices.ContainsFunc(bad, func(n string) bool { return n[0] == 'h' }) {
			t.Errorf("trial %d, %d honest, %d liars, %d pieces: done %v, bad %v, failures %v",
				trial, honest, liars, numPieces(len(info)), out.res.Done, bad, out.failures)
		}
	}
}

// BenchmarkNextSuspected measures Next for the largest info dictionary and
// 50 peers after three failed attempts, the costliest case: each peer scans
// every piece, ranking the others for it.
func BenchmarkNextSuspected(b *testing.B) {
	for _, unproven := range []int{soloAfter - 1, soloAfter} {
		b.Run("unproven="+strconv.Itoa(unproven), func(b *testing.B) {
			size, peers := wire.MaxMetadataSize, 50
			f := NewFetcher[int]([20]byte{})
			for k := range peers {
				if err := f.AddPeer(k, size); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			n := numPieces(size)
			for range 3 {
				r := failure[int]{size: size, from: make([]int, n), sums: make([][20]byte, n)}
				for i := range n {
					r.from[i], r.sums[i][0] = rng.IntN(peers), byte(rng.IntN(3))
				}
				f.failed = append(f.failed, r)
			}
			f.unproven = unproven
			f.Next(0, t0)
			f.Next(0, t0)
			for b.Loop() {
				for k := 1; k < peers; k++ {
					if piece, ok := f.Next(k, t0); ok {
						f.Reject(k, piece)
					}
				}
			}
		})
	}
}
