package inspect

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// table is the set of units in flight that the watchdog scans: segments of
// slots, each slot a word (see unit.go: 0 is free, reservedWord is held in a
// P's magazine, an active word is a unit in flight) and the id of the
// goroutine running the unit.
//
// Why segments: the watchdog's cost is one scan of every slot per tick, so
// the table should be as small as the program's concurrency, not as large
// as the worst case. It starts with one segment of 1024 slots and adds one
// more whenever a claim finds no free slot, up to Config.Slots; segments
// are never freed. A program with a few hundred units in flight scans 8 KiB
// per tick.
//
// Why words and ids are separate arrays: the scan streams through 8 bytes
// per slot instead of 16. A segment is one allocation, words then ids, all
// segments of a table the same size, so a slot's id is at a fixed offset
// from its word (table.goid) and a slot is known by one pointer.
//
// Who writes a slot: Begin stores an active word into a slot it holds (taken
// from its P's magazine, see percpu.go, or claimed here with a
// compare-and-swap); End stores reservedWord or 0 back. Between the two the
// word belongs to the unit's goroutine, and the only other writer is the
// watchdog, which may compare-and-swap the reported bit into it. The
// goroutine id is written only by the slot's holder.
type table struct {
	first   *segment // segs[0], immutable: the fast path skips two loads
	segs    atomic.Pointer[[]*segment]
	segN    int     // slots per segment
	goidOff uintptr // from a slot's word to its goroutine id

	mu        sync.Mutex // guards growth
	total     int
	max       int
	fullUntil atomic.Int64 // nanotime until which a full table is not searched again
}

type slot struct {
	word uint64 // atomic
}

type segment struct {
	slots []slot  // the words
	goids []int64 // atomic; goids[i] is slots[i]'s, goidOff bytes on
	mask  uint32
}

const (
	firstSegment = 1024

	// wideProbes is how far grow looks before it adds a segment.
	wideProbes = 64

	// reservedWord marks a free slot that a P's magazine holds: not free
	// for claim, not active for the watchdog (unit index 0).
	reservedWord = 1
)

// fullBackoff is how long a table found full is not searched again (a
// variable for tests).
var fullBackoff = time.Millisecond

func newSegment(n int) *segment {
	mem := make([]uint64, 2*n)
	return &segment{
		slots: unsafe.Slice((*slot)(unsafe.Pointer(&mem[0])), n),
		goids: unsafe.Slice((*int64)(unsafe.Pointer(&mem[n])), n),
		mask:  uint32(n - 1),
	}
}

func (t *table) init(max int) {
	n := 64
	for n < max {
		n <<= 1
	}
	t.max = n
	t.segN = min(firstSegment, n)
	t.goidOff = uintptr(t.segN) * 8
	t.total = t.segN
	t.first = newSegment(t.segN)
	t.segs.Store(&[]*segment{t.first})
}

// goid returns the goroutine id word of slot s.
func (t *table) goid(s *slot) *int64 {
	return (*int64)(unsafe.Add(unsafe.Pointer(s), t.goidOff))
}

// claim finds a free slot near h and publishes word in it (word may be
// reservedWord); nil when every segment's neighbourhood of h is full and the
// table is at its maximum.
func (t *table) claim(h uint32, goid int64, word uint64) *slot {
	if s := t.first.claim(h, goid, word); s != nil {
		return s
	}
	for _, sg := range (*t.segs.Load())[1:] {
		if s := sg.claim(h, goid, word); s != nil {
			return s
		}
	}
	return t.grow(h, goid, word)
}

func (sg *segment) claim(h uint32, goid int64, word uint64) *slot {
	return sg.claimWithin(h, probeSlots, goid, word)
}

func (sg *segment) claimWithin(h, probes uint32, goid int64, word uint64) *slot {
	for i := uint32(0); i < probes; i++ {
		j := (h + i) & sg.mask
		if s := &sg.slots[j]; sg.take(s, j, goid, word) {
			return s
		}
	}
	return nil
}

// take claims free slot j for a unit: reserve it, store the goroutine id,
// then publish the word, so the watchdog never pairs the new word with the
// previous holder's id.
func (sg *segment) take(s *slot, j uint32, goid int64, word uint64) bool {
	if atomic.LoadUint64(&s.word) != 0 || !atomic.CompareAndSwapUint64(&s.word, 0, reservedWord) {
		return false
	}
	if atomic.LoadInt64(&sg.goids[j]) != goid {
		atomic.StoreInt64(&sg.goids[j], goid)
	}
	atomic.StoreUint64(&s.word, word)
	return true
}

// reserve claims up to len(out) free slots for a magazine, looking at no
// more than 4*len(out) slots from h in the first segment that has room;
// it never grows the table.
func (t *table) reserve(h uint32, out []*slot) int {
	n := 0
	for _, sg := range *t.segs.Load() {
		for i := uint32(0); i < uint32(4*len(out)) && n < len(out); i++ {
			s := &sg.slots[(h+i)&sg.mask]
			if atomic.LoadUint64(&s.word) == 0 && atomic.CompareAndSwapUint64(&s.word, 0, reservedWord) {
				out[n] = s
				n++
			}
		}
		if n > 0 {
			return n
		}
	}
	return n
}

// grow is claim's slow path: add a segment (under t.mu) and claim in it.
func (t *table) grow(h uint32, goid int64, word uint64) *slot {
	if until := t.fullUntil.Load(); until != 0 && nanotime() < until {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	segs := *t.segs.Load()
	// Another Begin may have grown the table since our caller looked; and
	// a crowded neighbourhood is not a full table: grow only when a wider
	// one is full in every segment.
	for _, sg := range segs {
		if s := sg.claimWithin(h, wideProbes, goid, word); s != nil {
			return s
		}
	}
	if t.total >= t.max {
		// At the maximum: take any free slot rather than leave the unit
		// unwatched because its neighbourhood is crowded. One pass over
		// the table (~10-20 µs at 16384 slots), only when it is nearly
		// full, and at most once a millisecond while it stays full.
		for _, sg := range segs {
			for i := range sg.slots {
				if s := &sg.slots[i]; sg.take(s, uint32(i), goid, word) {
					return s
				}
			}
		}
		// Full: for the next millisecond, Begins fail fast (unwatched)
		// instead of queueing on t.mu for another pass.
		t.fullUntil.Store(nanotime() + int64(fullBackoff))
		return nil
	}
	sg := newSegment(t.segN)
	t.total += t.segN
	ns := append(segs[:len(segs):len(segs)], sg)
	s := sg.claim(h, goid, word)
	t.segs.Store(&ns)
	return s
}

// size returns the number of slots allocated so far.
func (t *table) size() int {
	n := 0
	for _, sg := range *t.segs.Load() {
		n += len(sg.slots)
	}
	return n
}
