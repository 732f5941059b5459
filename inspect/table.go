package inspect

import (
	"sync"
	"sync/atomic"
)

// table is the set of units in flight that the watchdog scans: segments of
// slots, each slot a word (see unit.go: 0 is free, reservedWord is held in a
// P's magazine, an active word is a unit in flight) and the id of the
// goroutine running the unit.
//
// Why segments: the watchdog's cost is one scan of every slot per tick, so
// the table should be as small as the program's concurrency, not as large
// as the worst case. It starts with 1024 slots and adds a segment as large
// as everything before it (so the total doubles) whenever a claim finds no
// free slot, up to Config.Slots; segments are never freed. A program with a
// few hundred units in flight scans 16 KiB per tick.
//
// Who writes a slot: Begin stores an active word into a slot it holds (taken
// from its P's magazine, see percpu.go, or claimed here with a
// compare-and-swap); End stores reservedWord or 0 back. Between the two the
// word belongs to the unit's goroutine, and the only other writer is the
// watchdog, which may compare-and-swap the reported bit into it. The
// goroutine id is written only by the slot's holder.
type table struct {
	first *segment // segs[0], immutable: the fast path skips two loads
	segs  atomic.Pointer[[]*segment]

	mu    sync.Mutex // guards growth
	total int
	max   int
}

type slot struct {
	word uint64 // atomic
	goid int64  // atomic
}

type segment struct {
	slots []slot
	mask  uint32
}

const (
	firstSegment = 1024

	// reservedWord marks a free slot that a P's magazine holds: not free
	// for claim, not active for the watchdog (unit index 0).
	reservedWord = 1
)

func newSegment(n int) *segment {
	return &segment{slots: make([]slot, n), mask: uint32(n - 1)}
}

func (t *table) init(max int) {
	n := 64
	for n < max {
		n <<= 1
	}
	t.max = n
	t.total = min(firstSegment, n)
	t.first = newSegment(t.total)
	t.segs.Store(&[]*segment{t.first})
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
	for i := uint32(0); i < probeSlots; i++ {
		s := &sg.slots[(h+i)&sg.mask]
		if atomic.LoadUint64(&s.word) == 0 && atomic.CompareAndSwapUint64(&s.word, 0, word) {
			if atomic.LoadInt64(&s.goid) != goid {
				atomic.StoreInt64(&s.goid, goid)
			}
			return s
		}
	}
	return nil
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
	t.mu.Lock()
	defer t.mu.Unlock()
	segs := *t.segs.Load()
	// Another Begin may have grown the table since our caller looked.
	if s := segs[len(segs)-1].claim(h, goid, word); s != nil {
		return s
	}
	if t.total >= t.max {
		return nil
	}
	n := min(t.total, t.max-t.total)
	sg := newSegment(n)
	t.total += n
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
