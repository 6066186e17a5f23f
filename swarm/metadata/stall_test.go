package metadata

import (
	"bytes"
	"crypto/sha1"
	"slices"
	"strconv"
	"testing"
	"time"
)

// staller is a simulated peer that answers its first serve requests, then
// rejects every request, or lets it expire when silent.
type staller struct {
	*source
	serve  int
	silent bool
}

// sim runs a fetch in steps of a second, with requests expiring after
// five. In each step, every peer present is asked for pieces until none can
// be asked, and answers at once: an honest peer with its data, a staller as
// it does. before(step) may change the peers first. It returns the last
// result and every peer reported bad.
type sim struct {
	t        *testing.T
	f        *Fetcher[*source]
	honest   []*source
	stallers []*staller
	now      time.Time
	bad      []*source
}

func (w *sim) run(steps int, before func(step int)) Result[*source] {
	w.t.Helper()
	for step := range steps {
		if before != nil {
			before(step)
		}
		w.now = w.now.Add(time.Second)
		w.f.Expire(w.now, 5*time.Second)
		ask := func(s *source, answer func(piece int) (Msg, bool)) (Result[*source], bool) {
			for {
				piece, ok := w.f.Next(s, w.now)
				if !ok {
					return Result[*source]{}, false
				}
				m, ok := answer(piece)
				if !ok {
					continue
				}
				if m.Type == Reject {
					w.f.Reject(s, piece)
					continue
				}
				res, err := w.f.Data(s, m)
				if err != nil {
					w.t.Fatalf("%s piece %d: %v", s.name, piece, err)
				}
				w.bad = append(w.bad, res.Bad...)
				if res.Done {
					return res, true
				}
			}
		}
		for _, st := range w.stallers {
			res, done := ask(st.source, func(piece int) (Msg, bool) {
				switch {
				case st.serve > 0:
					st.serve--
					return st.answer(piece), true
				case st.silent:
					return Msg{}, false
				}
				return Msg{Type: Reject, Piece: piece}, true
			})
			if done {
				return res
			}
		}
		for _, h := range w.honest {
			if res, done := ask(h, func(piece int) (Msg, bool) { return h.answer(piece), true }); done {
				return res
			}
		}
	}
	return Result[*source]{}
}

// A peer that claims a size that wins the ranking, sends a piece or none,
// then rejects everything or goes silent, cannot hold the fetch: honest
// peers of the real size, there from the start or joining later, complete
// it. The staller is not reported bad for stalling; one that sent a piece of
// a size other than the verified one is, once the fetch is done.
func TestFetcherStall(t *testing.T) {
	info := testInfo(4*PieceSize + 100)
	lie := testInfo(3*PieceSize + 100) // smaller: it wins a tie
	for _, silent := range []bool{false, true} {
		for _, serve := range []int{0, 1} {
			for _, join := range []string{"before", "after"} {
				for _, stallers := range []int{1, 2} { // two outnumber the first honest peer
					name := "rejects"
					if silent {
						name = "silent"
					}
					name += "/serves " + strconv.Itoa(serve) + "/honest " + join + "/stallers " + strconv.Itoa(stallers)
					t.Run(name, func(t *testing.T) {
						w := &sim{t: t, f: NewFetcher[*source](sha1.Sum(info)), now: t0}
						for i := range stallers {
							st := &staller{&source{"l" + strconv.Itoa(i), lie}, serve, silent}
							w.stallers = append(w.stallers, st)
							if err := w.f.AddPeer(st.source, len(lie)); err != nil {
								t.Fatal(err)
							}
						}
						add := func(name string) {
							h := &source{name, info}
							w.honest = append(w.honest, h)
							if err := w.f.AddPeer(h, len(info)); err != nil {
								t.Fatal(err)
							}
						}
						if join == "before" {
							add("h0")
						}
						res := w.run(200, func(step int) {
							if join == "after" && step == 3 {
								add("h0")
							}
						})
						if !res.Done || !bytes.Equal(res.Info, info) {
							t.Fatalf("not done after 200 s: %+.40v", res)
						}
						want := []string{}
						for i := range stallers {
							if serve > 0 {
								want = append(want, "l"+strconv.Itoa(i))
							}
						}
						if got := names(w.bad); !slices.Equal(got, want) || len(w.bad) != len(res.Bad) {
							t.Fatalf("bad %v, %d of them before the end; want %v, at the end", got, len(w.bad)-len(res.Bad), want)
						}
						if w.now.Sub(t0) > 40*time.Second {
							t.Errorf("took %v", w.now.Sub(t0))
						}
					})
				}
			}
		}
	}
}

// A staller is not banned while the fetch goes on, and the fetch moves to
// another size as soon as it has rejected every missing piece.
func TestFetcherStallNotBad(t *testing.T) {
	info := testInfo(2*PieceSize + 100)
	lie := testInfo(PieceSize + 100)
	l, h := &source{"l", lie}, &source{"h", info}
	f := newFetcher(t, info, l, h)
	p0, _ := f.Next(l, t0)
	p1, _ := f.Next(l, t0)
	if _, ok := f.Next(h, t0); ok || p0 != 0 || p1 != 1 {
		t.Fatal("the smaller size was not chosen")
	}
	if res, err := f.Data(l, l.answer(0)); err != nil || res.Bad != nil {
		t.Fatalf("%+v, %v", res, err)
	}
	if _, ok := f.Next(h, t0); ok {
		t.Fatal("moved on before the staller failed a piece")
	}
	f.Reject(l, 1)
	if piece, ok := f.Next(h, t0); !ok || piece != 0 {
		t.Fatalf("Next(h) = %d, %v; want the real size's piece 0", piece, ok)
	}
	if _, banned := f.banned[l]; banned || f.Peers() != 2 {
		t.Fatal("the staller was banned")
	}
	// Its claim no longer counts: the honest attempt stays even before a
	// piece of it is in.
	if piece, ok := f.Next(l, t0); ok {
		t.Fatalf("Next(l) = %d", piece)
	}
	f.Data(h, h.answer(0))
	res := pump(t, f, []*source{l, h}, t0)
	if !res.Done || !bytes.Equal(res.Info, info) || !slices.Equal(res.Bad, []*source{l}) {
		t.Fatalf("%+.40v; want done, l bad for its piece of another size", res)
	}
}

// An attempt whose claimants are all gone is abandoned.
func TestFetcherStallRemoved(t *testing.T) {
	info := testInfo(2*PieceSize + 100)
	lie := testInfo(PieceSize + 100)
	l, h := &source{"l", lie}, &source{"h", info}
	f := newFetcher(t, info, l, h)
	f.Next(l, t0)
	f.Next(l, t0)
	f.Data(l, l.answer(0))
	f.RemovePeer(l)
	res := pump(t, f, []*source{h}, t0)
	if !res.Done || !bytes.Equal(res.Info, info) || !slices.Equal(res.Bad, []*source{l}) {
		t.Fatalf("%+.40v; want done, l bad", res)
	}
}

// With only one size claimed, nothing is abandoned: the honest peer that
// rejected every missing piece is asked again.
func TestFetcherStallOneSize(t *testing.T) {
	info := testInfo(PieceSize + 100)
	h := &source{"h", info}
	f := newFetcher(t, info, h)
	f.Next(h, t0)
	f.Next(h, t0)
	f.Data(h, h.answer(1))
	f.Reject(h, 0)
	f.Expire(t0.Add(time.Minute), time.Second)
	if res := pump(t, f, []*source{h}, t0.Add(time.Minute)); !res.Done || res.Bad != nil {
		t.Fatalf("%+.40v", res)
	}
}

// A liar that keeps claiming new sizes, on one connection or a new one each
// time, and is asked before the honest peer answers, cannot keep the fetch
// from completing: after maxSwitches changes of size, the honest attempt
// stays.
func TestFetcherFlap(t *testing.T) {
	info := testInfo(2*PieceSize + 100)
	for _, reconnect := range []bool{false, true} {
		t.Run("reconnect "+strconv.FormatBool(reconnect), func(t *testing.T) {
			h := &source{"h", info}
			f := newFetcher(t, info, h)
			l := &source{"l", nil}
			for round := range 4 * maxSwitches {
				var asked []int
				for {
					piece, ok := f.Next(h, t0)
					if !ok {
						break
					}
					asked = append(asked, piece)
				}
				// The liar claims a new, smaller size and is asked before
				// the honest peer answers; it rejects what it was asked
				// after that.
				if reconnect {
					f.RemovePeer(l)
					l = &source{"l" + strconv.Itoa(round), nil}
				}
				l.info = testInfo(PieceSize + 100 + round%2)
				if err := f.AddPeer(l, len(l.info)); err != nil {
					t.Fatal(err)
				}
				var lied []int
				for {
					piece, ok := f.Next(l, t0)
					if !ok {
						break
					}
					lied = append(lied, piece)
				}
				for _, piece := range asked {
					res, err := f.Data(h, h.answer(piece))
					if err != nil {
						t.Fatal(err)
					}
					if res.Bad != nil {
						t.Fatalf("bad %v", names(res.Bad))
					}
					if res.Done {
						if !bytes.Equal(res.Info, info) {
							t.Fatal("wrong info")
						}
						want := 2 // once it stalled, the liar's claims do not count
						if reconnect {
							want = maxSwitches/2 + 1 // two changes a round until the bound
						}
						if round != want {
							t.Errorf("done in round %d, after %d changes of size; want round %d", round, f.switches, want)
						}
						return
					}
				}
				for _, piece := range lied {
					f.Reject(l, piece)
				}
				if f.switches > maxSwitches {
					t.Fatalf("%d changes of size", f.switches)
				}
			}
			t.Fatalf("not done after %d rounds", 4*maxSwitches)
		})
	}
}

// Once maxSwitches changes of size were made, the next size is that of the
// peer that waited longest: liars joining later wait behind the honest peer,
// and one that stalls goes to the back.
func TestFetcherTurns(t *testing.T) {
	info := testInfo(2*PieceSize + 100)
	l0, h := &source{"l0", testInfo(PieceSize + 100)}, &source{"h", info}
	f := newFetcher(t, info, l0, h)
	f.switches = maxSwitches
	if _, ok := f.Next(h, t0); ok {
		t.Fatal("the honest peer's size chosen before the older l0's")
	}
	f.Next(l0, t0)
	f.Next(l0, t0)
	l1 := &source{"l1", testInfo(PieceSize + 50)} // smaller, and later
	if err := f.AddPeer(l1, len(l1.info)); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Next(l1, t0); ok {
		t.Fatal("a later peer took over an attempt with nothing stored")
	}
	f.Reject(l0, 0)
	f.Reject(l0, 1)
	if piece, ok := f.Next(l1, t0); ok {
		t.Fatalf("Next(l1) = %d; want the honest peer's turn first", piece)
	}
	if res := pump(t, f, []*source{l0, l1, h}, t0); !res.Done || res.Bad != nil {
		t.Fatalf("%+.40v", res)
	}
}

// The abandoned attempts remembered for blame are bounded.
func TestFetcherStraysBounded(t *testing.T) {
	info := testInfo(2*PieceSize + 100)
	h := &source{"h", info}
	f := newFetcher(t, info, h)
	for i := range 3 * maxSwitches {
		l := &source{"l" + strconv.Itoa(i), testInfo(PieceSize + 100 + i)}
		if err := f.AddPeer(l, len(l.info)); err != nil {
			t.Fatal(err)
		}
		f.switches = 0 // the smaller size wins every time
		f.Next(l, t0)
		f.Next(l, t0)
		f.Data(l, l.answer(0))
		f.RemovePeer(l)
		f.Next(h, t0)
		if len(f.strays) > maxSwitches {
			t.Fatalf("%d abandoned attempts remembered", len(f.strays))
		}
	}
	if len(f.strays) != maxSwitches {
		t.Fatalf("%d abandoned attempts remembered, want %d", len(f.strays), maxSwitches)
	}
}
