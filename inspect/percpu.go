package inspect

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// Per-P state: what makes Begin/End cost two clock reads and a few plain
// stores instead of four atomic read-modify-writes (~10 ns each on the
// machines in BENCHMARKS.md).
//
// Begin and End pin the goroutine to its P (runtime.procPin: no preemption
// until procUnpin, ~1.5 ns each) for a few instructions, and only ever touch
// that P's data while pinned, so each piece of per-P data has one writer at
// a time and needs no lock prefix (relaxed_plain.go):
//
//   - procState.mag, a magazine of up to magSize free in-flight slots the P
//     holds (word reservedWord). Begin pops one and stores its word; End
//     stores reservedWord back and pushes it. A magazine is refilled from
//     the table with compare-and-swaps, magSize/2 slots at a time, when
//     Begin finds it empty; a slot released into a full one is freed.
//   - pshard, a unit's histogram, sum, max and slow count for that P,
//     allocated the first time the unit ends on the P.
//
// A Monitor has per-P state for as many Ps as the machine has CPUs (or
// GOMAXPROCS, if larger; at most maxProcs). A unit's counters on a P cost
// ~1.9 KiB, allocated the first time it ends there, up to maxPShards of them
// per Monitor (~15 MiB). On a P past those, or once the budget is spent,
// Begin/End claim slots with a compare-and-swap or count into the unit's
// atomic shards: as correct, ~20-40 ns slower. Under the race detector the per-P path runs as
// it is, with sync/atomic stores (relaxed_atomic.go), so the detector sees
// the hand-over of per-P data between goroutines as synchronised.

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

const (
	maxProcs   = 256
	maxPShards = 8192
	magSize    = 16
)

// takePShard takes one (unit, P) counter set from the monitor's budget.
func (m *Monitor) takePShard() bool {
	return m.pshardsLeft.Load() > 0 && m.pshardsLeft.Add(-1) >= 0
}

type procState struct {
	n     uint64                  // slots in mag; atomic reads, storeU64 writes
	mag   [magSize]unsafe.Pointer // *slot
	owner int64                   // race builds: 1 while a goroutine is in the pinned section (pincheck_race.go)
	_     [64]byte                // Ps' n and top slots never share a line
}

// put releases s, which the pinned P's goroutine held, into the magazine,
// or frees it when the magazine is full.
func (ps *procState) put(s *slot) {
	n := atomic.LoadUint64(&ps.n)
	if n < magSize {
		storeU64(&s.word, reservedWord)
		storePtr(&ps.mag[n], unsafe.Pointer(s))
		storeU64(&ps.n, n+1)
		return
	}
	storeU64(&s.word, 0)
}

// take pops a slot from the magazine, or nil.
func (ps *procState) take() *slot {
	n := atomic.LoadUint64(&ps.n)
	if n == 0 {
		return nil
	}
	storeU64(&ps.n, n-1)
	return (*slot)(atomic.LoadPointer(&ps.mag[n-1]))
}

// pshard is one unit's counts on one P. The padding keeps the hot ends
// (counts[0] for sub-microsecond units, and sum/max/slow) off the cache
// lines of whatever the allocator puts next to it, another P's pshard
// perhaps.
type pshard struct {
	_      [64]byte
	counts [NumBuckets]uint64
	sum    uint64
	max    uint64
	slow   uint64
	_      [64]byte
}

func (h *pshard) observe(d, limit int64) {
	addU64(&h.counts[bucketOf(d)], 1)
	addU64(&h.sum, uint64(d))
	if uint64(d) > atomic.LoadUint64(&h.max) {
		storeU64(&h.max, uint64(d))
	}
	if d > limit {
		addU64(&h.slow, 1)
	}
}

func (h *pshard) addTo(st *UnitStats) {
	for i := range h.counts {
		st.Hist.Counts[i] += atomic.LoadUint64(&h.counts[i])
	}
	st.Hist.Sum += durationOf(atomic.LoadUint64(&h.sum))
	st.Max = max(st.Max, durationOf(atomic.LoadUint64(&h.max)))
	st.Slow += atomic.LoadUint64(&h.slow)
}

// refill reserves up to magSize/2 free slots near h, returns one of them
// to the caller (nil if none was free) and puts the others in the current
// P's magazine.
func (m *Monitor) refill(h uint32) *slot {
	var got [magSize / 2]*slot
	n := m.table.reserve(h, got[:])
	if n == 0 {
		return nil
	}
	i := 1
	if pid := procPin(); uint(pid) < uint(len(m.procs)) {
		ps := &m.procs[pid]
		ps.enter()
		for ; i < n && atomic.LoadUint64(&ps.n) < magSize; i++ {
			ps.put(got[i])
		}
		ps.leave()
	}
	procUnpin()
	for ; i < n; i++ {
		atomic.StoreUint64(&got[i].word, 0)
	}
	return got[0]
}

func durationOf(ns uint64) time.Duration { return time.Duration(min(ns, 1<<63-1)) }
