package inspect

import (
	"sync"
	"sync/atomic"
)

// table is the set of units in flight that the watchdog scans: open-addressed
// segments of slots, where slot i of a segment is words[i] (the slot word,
// see unit.go) and goids[i] (the id of the goroutine running the unit).
//
// Why segments: the watchdog's cost is one scan of every slot per tick, so
// the table should be as small as the program's concurrency, not as large
// as the worst case. It starts with 1024 slots and adds a segment as large
// as everything before it (so the total doubles) whenever a Begin finds no
// free slot, up to Config.Slots; segments are never freed. A program with a
// few hundred units in flight scans 8 KiB per tick.
//
// Why words and goids are separate arrays: the scan streams through 8 bytes
// per slot instead of whole records. Eight slots share a cache line, but only
// goroutines running at the same moment (at most GOMAXPROCS) can contend on
// one, and their hashes rarely meet.
//
// A goroutine starts probing at a hash of its id, so a goroutine running unit
// after unit reuses the same slot (and skips rewriting its id), and different
// goroutines spread over the table, which is what shards it.
type table struct {
	first *segment // segs[0], immutable: the fast path skips two loads
	segs  atomic.Pointer[[]*segment]

	mu    sync.Mutex // guards growth
	total int
	max   int
}

type segment struct {
	words []atomic.Uint64
	goids []atomic.Int64
	mask  uint32
}

const firstSegment = 1024

func newSegment(n int) *segment {
	return &segment{
		words: make([]atomic.Uint64, n),
		goids: make([]atomic.Int64, n),
		mask:  uint32(n - 1),
	}
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

// claim finds a free slot near h and publishes word in it; nil when every
// segment's neighbourhood of h is full and the table is at its maximum.
func (t *table) claim(h uint32, goid int64, word uint64) *atomic.Uint64 {
	if w := t.first.claim(h, goid, word); w != nil {
		return w
	}
	for _, sg := range (*t.segs.Load())[1:] {
		if w := sg.claim(h, goid, word); w != nil {
			return w
		}
	}
	return t.grow(h, goid, word)
}

func (sg *segment) claim(h uint32, goid int64, word uint64) *atomic.Uint64 {
	for i := uint32(0); i < probeSlots; i++ {
		j := (h + i) & sg.mask
		w := &sg.words[j]
		if w.Load() == 0 && w.CompareAndSwap(0, word) {
			if g := &sg.goids[j]; g.Load() != goid {
				g.Store(goid)
			}
			return w
		}
	}
	return nil
}

// grow is claim's slow path: add a segment (under t.mu) and claim in it.
func (t *table) grow(h uint32, goid int64, word uint64) *atomic.Uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	segs := *t.segs.Load()
	// Another Begin may have grown the table since our caller looked.
	if w := segs[len(segs)-1].claim(h, goid, word); w != nil {
		return w
	}
	if t.total >= t.max {
		return nil
	}
	n := min(t.total, t.max-t.total)
	sg := newSegment(n)
	t.total += n
	ns := append(segs[:len(segs):len(segs)], sg)
	w := sg.claim(h, goid, word)
	t.segs.Store(&ns)
	return w
}

// size returns the number of slots allocated so far.
func (t *table) size() int {
	n := 0
	for _, sg := range *t.segs.Load() {
		n += len(sg.words)
	}
	return n
}
