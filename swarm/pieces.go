package swarm

import (
	"crypto/sha1"
	"fmt"
	"net/netip"

	"github.com/btfs/btfs/cache"

	"github.com/btfs/btfs/swarm/bitfield"
	"github.com/btfs/btfs/swarm/wire"
)

// pieceState is where a piece is in its life. The torrent loop owns every
// piece's state; nothing else changes it.
//
//	missing ──request──▶ downloading ──last block──▶ hashing ──ok──▶ storing ──stored──▶ held
//	   ▲                  │     ▲                      │                │                │
//	   └──── discarded ───┘     └──────── failed ──────┘                │                │
//	   └────────────────────────── store error ─────────────────────────┘                │
//	   └───────────────────────────── evicted (the cache's message) ─────────────────────┘
type pieceState uint8

const (
	stMissing     pieceState = iota
	stDownloading            // a buffer and requests out
	stHashing                // every block in, queued for or in the hasher
	stStoring                // verified, on its way into storage (readers get it already)
	stHeld                   // in storage: served to readers and peers
	numStates
)

var stateNames = [numStates]string{"missing", "downloading", "hashing", "storing", "held"}

func (s pieceState) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// transitions lists the moves a piece may make; anything else is a bug.
var transitions = [numStates][numStates]bool{
	stMissing:     {stDownloading: true, stHeld: true},
	stDownloading: {stMissing: true, stHashing: true},
	stHashing:     {stDownloading: true, stStoring: true},
	stStoring:     {stMissing: true, stHeld: true},
	stHeld:        {stMissing: true},
}

// pieceTable is the single record of every piece's life. verified, the
// counts per state and the bytes of buffers in use (downloading, hashing,
// storing: what the byte budget charges) are views of it, kept in step by
// set, never copies updated elsewhere.
type pieceTable struct {
	state    []pieceState
	count    [numStates]int
	verified bitfield.Bitfield // state == stHeld
	size     func(int) int     // bytes of piece i
	// inflight is the bytes of pieces downloading, hashing or storing.
	inflight int64
	// heldBytes is the bytes of held pieces.
	heldBytes int64
	// dl is the download of each piece downloading or hashing: its buffer
	// and who sent each block.
	dl map[int]*pieceDL
	// parole is the subset of dl that failed a hash check (see punish):
	// an index, so the pick need not scan dl for them.
	parole map[int]*pieceDL
	// data is the verified bytes of each piece storing (readers get them
	// from here until storage has them). The table holds one reference to
	// each buffer in dl and data, dropped when the piece leaves them.
	data map[int]*cache.Buf
}

// pieceDL is a piece being downloaded: its buffer and per-block states.
type pieceDL struct {
	b    *cache.Buf
	buf  []byte  // b's bytes
	from []*peer // who sent each block

	// After a failed hash check the piece is on parole: evidence keeps,
	// per block, what each failed attempt's sender sent (a digest), for
	// judge once the piece verifies; suspects are the addresses that sent
	// part of a failed attempt; owner is the one peer the next attempt is
	// fetched from, so that if it fails too the guilty one is known.
	evidence [][]blockEvidence
	suspects map[netip.Addr]bool
	owner    *peer
}

// blockEvidence is one block of a failed attempt: its digest and sender.
type blockEvidence struct {
	sum  [sha1.Size]byte
	from *peer
}

func newPieceTable(n int, size func(int) int) *pieceTable {
	pt := &pieceTable{
		state: make([]pieceState, n), verified: bitfield.New(n), size: size,
		dl: map[int]*pieceDL{}, parole: map[int]*pieceDL{}, data: map[int]*cache.Buf{},
	}
	pt.count[stMissing] = n
	return pt
}

// inBuffer reports whether a state holds a piece buffer of the loop's.
func inBuffer(s pieceState) bool {
	return s == stDownloading || s == stHashing || s == stStoring
}

// set moves piece i to state s and returns its old state. A move the
// diagram above does not allow panics: it is a bug in the loop, and going
// on would serve or announce a piece we do not hold.
func (pt *pieceTable) set(i int, s pieceState) pieceState {
	old := pt.state[i]
	if !transitions[old][s] {
		panic(fmt.Sprintf("piece %d: %v -> %v", i, old, s))
	}
	pt.state[i] = s
	pt.count[old]--
	pt.count[s]++
	n := int64(pt.size(i))
	if inBuffer(old) {
		pt.inflight -= n
	}
	if inBuffer(s) {
		pt.inflight += n
	}
	// The buffer's reference moves with the piece: from dl to data when
	// it verifies, and is dropped when it leaves both.
	if pd := pt.dl[i]; pd != nil && s != stDownloading && s != stHashing {
		delete(pt.dl, i)
		delete(pt.parole, i)
		switch {
		case s == stStoring:
			pt.data[i] = pd.b
		case pd.b != nil:
			pd.b.Unref()
		}
	}
	if b, ok := pt.data[i]; ok && old == stStoring {
		delete(pt.data, i)
		if b != nil {
			b.Unref()
		}
	}
	switch {
	case s == stHeld:
		pt.verified.Set(i)
		pt.heldBytes += n
	case old == stHeld:
		pt.verified.Clear(i)
		pt.heldBytes -= n
	}
	return old
}

// get returns piece i's state.
func (pt *pieceTable) get(i int) pieceState { return pt.state[i] }

// held reports whether piece i is in storage.
func (pt *pieceTable) held(i int) bool { return pt.state[i] == stHeld }

// budgeter is storage that charges piece buffers to a shared byte budget
// (the memory cache's): a reservation per buffer from its first request,
// turned into the held piece by PutReserved, or given back by Release.
type budgeter interface {
	Reserve(n int64)
	Release(n int64)
	PutReserved(piece int, b *cache.Buf) error
}

// evictWatcher is storage that tells the loop of pieces it may have
// dropped (see cache.Pieces.Watch).
type evictWatcher interface {
	Watch(f func(piece int)) (stop func())
}

// setState moves piece i to state s and keeps everything that is a view of
// the table in step: the byte budget's reservation, the counters Stats
// reads, the picker, completion, and the Haves peers get.
func (t *Torrent) setState(i int, s pieceState) {
	old := t.pieces.set(i, s)
	if t.budget != nil {
		n := int64(t.layout.PieceSize(i))
		switch {
		case !inBuffer(old) && inBuffer(s):
			t.budget.Reserve(n)
		case old == stStoring:
			// The storer's PutReserved turned the reservation into the
			// held piece (or, on an error, the cache let it go).
		case inBuffer(old) && !inBuffer(s):
			t.budget.Release(n)
		}
	}
	switch {
	case s == stHeld && old == stStoring:
		for p := range t.peers {
			p.send(wire.Message{ID: wire.Have, Index: uint32(i)})
		}
		if t.pieces.verified.Full() {
			t.signalComplete()
			for p := range t.peers {
				t.updateInterest(p)
			}
			t.log.Info("download complete")
		}
	case s == stHeld: // found in storage at start
		t.pk.Verified(i)
		if t.pieces.verified.Full() {
			t.signalComplete()
		}
	case old == stHeld: // evicted, or bad on disk: fetch it again if wanted
		t.pk.Missing(i)
		for p := range t.peers {
			if p.bf.Has(i) && !p.amInterested {
				t.updateInterest(p)
			}
		}
	}
	t.updateCounters()
}

// updateCounters publishes the table's counts for Stats and trackers.
func (t *Torrent) updateCounters() {
	t.nVerified.Store(int64(t.pieces.count[stHeld]))
	t.left.Store(t.info.Length - t.pieces.heldBytes)
}

// put hands a verified piece to storage, turning its reservation into the
// held piece when storage keeps a budget. The caller keeps its reference.
func (t *Torrent) put(piece int, b *cache.Buf) error {
	if t.budget != nil {
		return t.budget.PutReserved(piece, b)
	}
	return t.storage.Put(piece, b.Bytes())
}

// alloc returns a buffer for a piece of n bytes, recycled when storage
// can, with one reference.
func (t *Torrent) alloc(n int) *cache.Buf {
	if t.allocator != nil {
		return t.allocator.Alloc(n)
	}
	return cache.NewBuf(make([]byte, n))
}

// noteEvicted is the cache's watch callback: it runs under the cache's
// lock, so it only records the piece and wakes the loop.
func (t *Torrent) noteEvicted(piece int) {
	t.evictMu.Lock()
	t.evicted = append(t.evicted, piece)
	t.evictMu.Unlock()
	select {
	case t.evictC <- struct{}{}:
	default:
	}
}

// handleEvicted marks the pieces the cache reported gone as missing,
// unless storage still has them (evicted from memory but on disk) or they
// are already on their way back.
func (t *Torrent) handleEvicted() {
	t.evictMu.Lock()
	ev := t.evicted
	t.evicted = nil
	t.evictMu.Unlock()
	lost := false
	for _, i := range ev {
		if i < 0 || i >= t.layout.NumPieces || !t.pieces.held(i) || t.storage.Has(i) {
			continue
		}
		t.setState(i, stMissing)
		lost = true
	}
	if lost {
		t.prioDirty = true
		t.fillAll()
		t.connectMore()
	}
}
