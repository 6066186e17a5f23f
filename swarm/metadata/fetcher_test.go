package metadata

import (
	"bytes"
	"crypto/sha1"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/btfs/btfs/swarm/wire"
)

// testInfo returns a bencoded dictionary of exactly size bytes (size >= 16).
func testInfo(size int) []byte {
	b, ok := tryInfo(size)
	if !ok {
		panic("no dictionary of " + strconv.Itoa(size) + " bytes")
	}
	return b
}

// tryInfo returns a bencoded dictionary of exactly size bytes, if there is
// one of the shape testInfo makes.
func tryInfo(size int) ([]byte, bool) {
	for n := size - 12; n > 0; n-- {
		head := "d6:pieces" + strconv.Itoa(n) + ":"
		if len(head)+n+1 == size {
			b := []byte(head)
			for i := range n {
				b = append(b, byte(i*7+i/251))
			}
			return append(b, 'e'), true
		}
	}
	return nil, false
}

var t0 = time.Unix(1_700_000_000, 0)

// source is a simulated peer: it answers requests from its copy of the
// info dictionary.
type source struct {
	name string
	info []byte
}

func (s *source) answer(piece int) Msg { return Serve(s.info, Msg{Type: Request, Piece: piece}) }

// pump asks every peer for pieces until none can be asked, then answers
// every request in order; it repeats until the Fetcher reports something
// other than progress or no request can be made. It returns that result.
func pump(t *testing.T, f *Fetcher[*source], peers []*source, now time.Time) Result[*source] {
	t.Helper()
	for round := 0; round < 1000; round++ {
		type req struct {
			s     *source
			piece int
		}
		var reqs []req
		for _, s := range peers {
			for {
				piece, ok := f.Next(s, now)
				if !ok {
					break
				}
				reqs = append(reqs, req{s, piece})
			}
		}
		if len(reqs) == 0 {
			return Result[*source]{}
		}
		for _, r := range reqs {
			res, err := f.Data(r.s, r.s.answer(r.piece))
			if err != nil {
				t.Fatalf("%s piece %d: %v", r.s.name, r.piece, err)
			}
			if res.Done || res.Bad != nil {
				return res
			}
		}
	}
	t.Fatal("no result after 1000 rounds")
	return Result[*source]{}
}

func newFetcher(t *testing.T, info []byte, peers ...*source) *Fetcher[*source] {
	t.Helper()
	f := NewFetcher[*source](sha1.Sum(info))
	for _, s := range peers {
		if err := f.AddPeer(s, len(s.info)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestFetcherThreePeers(t *testing.T) {
	info := testInfo(7*PieceSize + 123)
	peers := []*source{{"a", info}, {"b", info}, {"c", info}}
	f := newFetcher(t, info, peers...)

	// Each peer gets two distinct pieces at once, no piece twice.
	seen := map[int]bool{}
	for _, s := range peers {
		for range maxOutstanding {
			piece, ok := f.Next(s, t0)
			if !ok || seen[piece] {
				t.Fatalf("%s: Next = %d, %v (seen %v)", s.name, piece, ok, seen)
			}
			seen[piece] = true
		}
		if piece, ok := f.Next(s, t0); ok {
			t.Fatalf("%s: third request in flight: piece %d", s.name, piece)
		}
	}
	for piece := range seen {
		s := peers[slices.IndexFunc(peers, func(s *source) bool {
			return slices.ContainsFunc(f.peers[s].reqs, func(r request) bool { return r.piece == piece })
		})]
		if res, err := f.Data(s, s.answer(piece)); err != nil || res.Done || res.Bad != nil {
			t.Fatalf("Data(%s, %d) = %+v, %v", s.name, piece, res, err)
		}
	}
	res := pump(t, f, peers, t0)
	if !res.Done || !bytes.Equal(res.Info, info) || res.Bad != nil {
		t.Fatalf("result %+.40v, want the info dictionary", res)
	}
	if _, ok := f.Next(peers[0], t0); ok {
		t.Fatal("Next after Done")
	}
}

func TestFetcherLiarSameSize(t *testing.T) {
	info := testInfo(2*PieceSize + 5)
	forged := bytes.Clone(info)
	forged[PieceSize+1] ^= 0xff // still a dictionary, wrong hash
	liar, a, b := &source{"liar", forged}, &source{"a", info}, &source{"b", info}
	f := newFetcher(t, info, liar, a, b)

	p0, _ := f.Next(a, t0)                     // a: 0
	p1, _ := f.Next(liar, t0.Add(time.Second)) // liar: 1 and 2
	p2, _ := f.Next(liar, t0.Add(time.Second))
	dup, ok := f.Next(b, t0.Add(2*time.Second)) // all in flight: b duplicates a's older request
	if p0 != 0 || p1 != 1 || p2 != 2 || !ok || dup != 0 {
		t.Fatalf("requests %d %d %d, duplicate %d %v", p0, p1, p2, dup, ok)
	}
	for _, r := range []struct {
		s     *source
		piece int
	}{{a, 0}, {liar, 1}} {
		if res, err := f.Data(r.s, r.s.answer(r.piece)); err != nil || res.Done || res.Bad != nil {
			t.Fatalf("Data(%s, %d) = %+v, %v", r.s.name, r.piece, res, err)
		}
	}
	// a and the liar both contributed: neither is proven a liar yet.
	res, err := f.Data(liar, liar.answer(2))
	if err != nil || res.Done || res.Bad != nil {
		t.Fatalf("after the forged piece: %+v, %v; want nobody bad", res, err)
	}
	if f.Peers() != 3 {
		t.Fatalf("%d peers left, want 3", f.Peers())
	}
	// b's duplicate of 0 arrives after the failure: not an error.
	if res, err := f.Data(b, b.answer(0)); err != nil || res.Done || res.Bad != nil {
		t.Fatalf("Data(b, 0) = %+v, %v", res, err)
	}
	// Only the liar sent pieces 1 and 2, and a took part in the failure:
	// b, which did not, is asked for every piece.
	for _, s := range []*source{liar, a} {
		if piece, ok := f.Next(s, t0.Add(3*time.Second)); ok {
			t.Fatalf("Next(%s) = %d, want nothing while b is better", s.name, piece)
		}
	}
	res = pump(t, f, []*source{liar, a, b}, t0.Add(3*time.Second))
	if !res.Done || !bytes.Equal(res.Info, info) || !slices.Equal(res.Bad, []*source{liar}) {
		t.Fatalf("re-fetch: %+.40v; want the info dictionary and the liar bad", res)
	}
	if err := f.AddPeer(liar, len(info)); err == nil {
		t.Fatal("banned peer added again")
	}
	if _, err := f.Data(liar, liar.answer(0)); err == nil {
		t.Fatal("data from a banned peer accepted")
	}
}

func TestFetcherLiarOtherSize(t *testing.T) {
	info := testInfo(3*PieceSize + 1)
	lie := testInfo(PieceSize) // a smaller, well-formed dictionary
	liar, a := &source{"liar", lie}, &source{"a", info}

	t.Run("outnumbered", func(t *testing.T) {
		b := &source{"b", info}
		f := newFetcher(t, info, liar, a, b)
		if _, ok := f.Next(liar, t0); ok {
			t.Fatal("the liar's size was chosen over the majority's")
		}
		if res := pump(t, f, []*source{liar, a, b}, t0); !res.Done || !bytes.Equal(res.Info, info) {
			t.Fatalf("%+.40v", res)
		}
	})
	t.Run("tie", func(t *testing.T) {
		f := newFetcher(t, info, liar, a) // one claim each: the smaller size is tried first
		res := pump(t, f, []*source{liar, a}, t0)
		if !slices.Equal(res.Bad, []*source{liar}) {
			t.Fatalf("first attempt: %+v, want the liar bad", res)
		}
		if res := pump(t, f, []*source{liar, a}, t0); !res.Done || !bytes.Equal(res.Info, info) {
			t.Fatalf("second attempt: %+.40v", res)
		}
	})
	t.Run("majority arrives before the first piece", func(t *testing.T) {
		f := newFetcher(t, info, liar)
		if piece, ok := f.Next(liar, t0); !ok || piece != 0 {
			t.Fatalf("Next(liar) = %d, %v", piece, ok)
		}
		b := &source{"b", info}
		for _, s := range []*source{a, b} {
			if err := f.AddPeer(s, len(s.info)); err != nil {
				t.Fatal(err)
			}
		}
		if piece, ok := f.Next(a, t0); !ok || piece != 0 {
			t.Fatalf("Next(a) = %d, %v; want the majority's size", piece, ok)
		}
		// The liar's answer to the abandoned size is valid for its claim:
		// ignored, not an error.
		if res, err := f.Data(liar, liar.answer(0)); err != nil || res.Done || res.Bad != nil {
			t.Fatalf("Data(liar) = %+v, %v", res, err)
		}
		if res := pump(t, f, []*source{a, b}, t0); !res.Done || !bytes.Equal(res.Info, info) {
			t.Fatalf("%+.40v", res)
		}
	})
}

func TestFetcherNotADictionary(t *testing.T) {
	info := bytes.Repeat([]byte("x"), PieceSize+9) // hash matches, but not bencode
	s := &source{"s", info}
	f := newFetcher(t, info, s)
	if res := pump(t, f, []*source{s}, t0); res.Done || !slices.Equal(res.Bad, []*source{s}) {
		t.Fatalf("%+.40v, want s bad", res)
	}
	if _, ok := f.Next(s, t0); ok || f.Peers() != 0 {
		t.Fatal("banned peer still asked")
	}
}

func TestFetcherDataErrors(t *testing.T) {
	info := testInfo(2*PieceSize + 5)
	s := &source{"s", info}
	tests := []struct {
		name string
		msg  func(asked int) Msg
	}{
		{"not requested", func(asked int) Msg { return s.answer(1 - asked) }},
		{"wrong total_size", func(asked int) Msg {
			m := s.answer(asked)
			m.TotalSize++
			return m
		}},
		{"short", func(asked int) Msg {
			m := s.answer(asked)
			m.Data = m.Data[1:]
			return m
		}},
		{"request, not data", func(asked int) Msg { return Msg{Type: Request, Piece: asked} }},
		{"piece out of range", func(int) Msg { return Msg{Type: Data, Piece: 99, TotalSize: len(info), Data: []byte("x")} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFetcher(t, info, s)
			asked, _ := f.Next(s, t0)
			if _, err := f.Data(s, tc.msg(asked)); err == nil {
				t.Fatal("no error")
			}
			if f.att.got != 0 {
				t.Fatal("bad data stored")
			}
		})
	}
	t.Run("unknown peer", func(t *testing.T) {
		f := newFetcher(t, info)
		if _, err := f.Data(s, s.answer(0)); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("answered twice", func(t *testing.T) {
		f := newFetcher(t, info, s)
		piece, _ := f.Next(s, t0)
		if _, err := f.Data(s, s.answer(piece)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Data(s, s.answer(piece)); err == nil {
			t.Fatal("second unrequested copy accepted")
		}
	})
}

func TestFetcherReject(t *testing.T) {
	info := testInfo(2*PieceSize + 5)
	a, b := &source{"a", info}, &source{"b", info}
	f := newFetcher(t, info, a, b)
	if piece, _ := f.Next(a, t0); piece != 0 {
		t.Fatalf("first request for %d", piece)
	}
	f.Reject(a, 0)
	f.Reject(a, 1) // not asked: ignored
	if piece, ok := f.Next(a, t0); !ok || piece != 1 {
		t.Fatalf("after reject, Next(a) = %d, %v; want 1", piece, ok)
	}
	if piece, ok := f.Next(a, t0); !ok || piece != 2 {
		t.Fatalf("Next(a) = %d, %v; want 2", piece, ok)
	}
	if piece, ok := f.Next(b, t0); !ok || piece != 0 {
		t.Fatalf("Next(b) = %d, %v; want the rejected piece 0", piece, ok)
	}
	// a is not given 0 again, even as a duplicate, until the reject expires.
	for _, piece := range []int{1, 2} {
		if _, err := f.Data(a, a.answer(piece)); err != nil {
			t.Fatal(err)
		}
	}
	if piece, ok := f.Next(a, t0); ok {
		t.Fatalf("Next(a) = %d after rejecting it", piece)
	}
	f.Expire(t0.Add(time.Minute), 30*time.Second) // b's request expires too
	if piece, ok := f.Next(a, t0.Add(time.Minute)); !ok || piece != 0 {
		t.Fatalf("after expiry, Next(a) = %d, %v; want 0", piece, ok)
	}
	res, err := f.Data(a, a.answer(0))
	if err != nil || !res.Done {
		t.Fatalf("%+.40v, %v", res, err)
	}
}

func TestFetcherExpire(t *testing.T) {
	info := testInfo(3*PieceSize + 5)
	a, b, c := &source{"a", info}, &source{"b", info}, &source{"c", info}
	f := newFetcher(t, info, a, b, c)
	f.Next(a, t0)                  // 0
	f.Next(a, t0)                  // 1
	f.Next(b, t0.Add(time.Second)) // 2
	f.Next(b, t0.Add(time.Second)) // 3
	if piece, ok := f.Next(c, t0.Add(2*time.Second)); !ok || piece != 0 {
		t.Fatalf("duplicate of the oldest: Next(c) = %d, %v; want 0", piece, ok)
	}
	f.Expire(t0.Add(10*time.Second), 9500*time.Millisecond) // a's requests only
	if piece, ok := f.Next(c, t0.Add(10*time.Second)); !ok || piece != 1 {
		t.Fatalf("after expiry, Next(c) = %d, %v; want 1", piece, ok)
	}
	// a answers late: accepted, not an error.
	for _, piece := range []int{0, 1} {
		if res, err := f.Data(a, a.answer(piece)); err != nil || res.Done {
			t.Fatalf("late Data(a, %d) = %+v, %v", piece, res, err)
		}
	}
	// c's duplicates arrive after a's copies: ignored.
	for _, piece := range []int{0, 1} {
		if res, err := f.Data(c, c.answer(piece)); err != nil || res.Done {
			t.Fatalf("Data(c, %d) = %+v, %v", piece, res, err)
		}
	}
	f.Data(b, b.answer(2))
	res, err := f.Data(b, b.answer(3))
	if err != nil || !res.Done || !bytes.Equal(res.Info, info) {
		t.Fatalf("%+.40v, %v", res, err)
	}
}

func TestFetcherRemovePeer(t *testing.T) {
	info := testInfo(PieceSize + 5)
	a, b := &source{"a", info}, &source{"b", info}
	f := newFetcher(t, info, a, b)
	f.Next(a, t0) // 0
	f.Next(a, t0) // 1
	f.RemovePeer(a)
	if f.Peers() != 1 {
		t.Fatalf("Peers = %d", f.Peers())
	}
	if res := pump(t, f, []*source{b}, t0); !res.Done {
		t.Fatalf("%+.40v", res)
	}
}

func TestFetcherRefusesSizes(t *testing.T) {
	f := NewFetcher[int]([20]byte{})
	for _, size := range []int{-1, 0, wire.MaxMetadataSize + 1, 1 << 30} {
		if err := f.AddPeer(1, size); err == nil {
			t.Errorf("size %d accepted", size)
		}
	}
	if f.Peers() != 0 {
		t.Fatal("refused peer registered")
	}
}

// heap returns the bytes allocated so far.
func heap() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func TestFetcherAllocation(t *testing.T) {
	f := NewFetcher[int]([20]byte{})
	allocs := testing.AllocsPerRun(100, func() {
		_ = f.AddPeer(1, 1<<30)
		f.Next(1, t0)
	})
	if allocs > 3 {
		t.Errorf("a 1 GiB claim costs %.0f allocations", allocs)
	}
	before := heap()
	for range 100 {
		_ = f.AddPeer(1, 1<<30)
		f.Next(1, t0)
	}
	if n := heap() - before; n > 64<<10 {
		t.Errorf("100 claims of 1 GiB allocated %d bytes", n)
	}

	// The largest accepted size costs nothing until a piece is asked for.
	before = heap()
	if err := f.AddPeer(2, wire.MaxMetadataSize); err != nil {
		t.Fatal(err)
	}
	if n := heap() - before; n > 4<<10 {
		t.Errorf("AddPeer(%d) allocated %d bytes", wire.MaxMetadataSize, n)
	}
	if _, ok := f.Next(2, t0); !ok {
		t.Fatal("no request")
	}
	if n := heap() - before; n < wire.MaxMetadataSize || n > wire.MaxMetadataSize+1<<20 {
		t.Errorf("first request allocated %d bytes, want about %d", n, wire.MaxMetadataSize)
	}
}
