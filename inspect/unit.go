package inspect

import (
	"context"
	"math/rand/v2"
	"runtime/pprof"
	"runtime/trace"
	"sync/atomic"
	"unsafe"
)

// A slot word describes one unit in flight in 64 bits, so that storing it
// publishes everything the watchdog needs at once:
//
//	bit 63      active
//	bit 62      reported (set by the watchdog: End must send a final report)
//	bits 50-61  unit index (1-based; 0 = none)
//	bits 40-49  low 10 bits of the goroutine id, to validate the id word
//	bits 0-39   start in coarse ticks (ticks >> coarseShift), modulo 2^40;
//	            see elapsedCoarse
const (
	activeBit   = uint64(1) << 63
	reportedBit = uint64(1) << 62
	unitIdxBits = 12
	unitShift   = 50
	tagBits     = 10
	tagShift    = 40
	tagMask     = (uint64(1) << tagBits) - 1
	startMask   = (uint64(1) << 40) - 1
	probeSlots  = 8
)

// elapsedCoarse returns how long ago, in coarse ticks, the unit in a slot
// word started. The 40-bit difference is sign-extended: a Begin that read
// the clock after the caller did (a scan in progress) is a little in the
// future, negative, not days old. So units are timed correctly up to 2^39
// coarse ticks (2.6 days at a 5 GHz TSC, 13 days in nanotime mode); one
// running longer looks younger than it is. Branch-free: two shifts.
func elapsedCoarse(nowC int64, word uint64) int64 {
	return int64((uint64(nowC)-word)<<24) >> 24
}

// unitState is everything a Monitor keeps per unit name.
type unitState struct {
	m      *Monitor
	name   string
	idx    uint64
	limit  atomic.Int64 // ns
	labels pprof.LabelSet

	stalls         atomic.Uint64 // units the watchdog reported
	unwatched      atomic.Int64  // in flight without a slot (table full)
	unwatchedTotal atomic.Uint64

	pshards []unsafe.Pointer // *pshard, by P (len(m.procs)); see percpu.go
	shards  []unitShard      // the atomic fallback
}

// unitShard spreads a unit's counters over a few cache lines so goroutines
// on different Ps running the same unit do not fight over one line.
type unitShard struct {
	hist atomicHist
	max  atomic.Int64
	slow atomic.Uint64
	_    [48]byte
}

func (s *unitShard) raiseMax(d int64) {
	for {
		cur := s.max.Load()
		if d <= cur || s.max.CompareAndSwap(cur, d) {
			return
		}
	}
}

// A Unit is a pre-resolved unit name: u.Begin(ctx) is the hot-loop form of
// Begin(ctx, name). Create it once (NewUnit), keep it in a variable.
type Unit struct {
	s *unitState
}

// Name returns the unit's name (OverflowUnit when the name cap was reached).
func (u *Unit) Name() string { return u.s.name }

// Begin starts one run of the unit; call End on the result when it is done:
//
//	defer u.Begin(ctx).End()
//
// Cost, Begin+End of a unit that is not slow: two reads of the tick counter
// (see clock.go), and, pinned to the P for a few instructions, a slot from
// the P's magazine and the unit's per-P counters, all with plain stores
// (see percpu.go); no atomic read-modify-write, no allocation, no lock, no
// map lookup (see BenchmarkCost). ctx is only read when Config.Labels is on
// or an execution trace is being recorded.
func (u *Unit) Begin(ctx context.Context) Region { return u.s.begin(ctx) }

// Do runs fn as one run of the unit.
func (u *Unit) Do(ctx context.Context, fn func(context.Context) error) error {
	return u.s.do(ctx, fn)
}

// Region is one run of a unit in progress, returned by Begin. It is a small
// value (four words, which the compiler keeps in registers); End records it.
// End must be called exactly once, on the goroutine that called Begin (as
// for a runtime/trace region, which it also is while an execution trace is
// recorded). The zero Region's End does nothing.
type Region struct {
	// p is the *unitState, or, when word has extBit, the *regionExt that
	// holds it: labels and trace regions are kept out of line so that a
	// plain Region has four fields, the most the compiler keeps in
	// registers rather than copying through memory.
	p     unsafe.Pointer
	slot  *slot // the in-flight slot; nil: not watched
	start int64 // ticks
	word  uint64
}

// extBit, in a Region's copy of its slot word, says p is a *regionExt. It is
// the reported bit, which the copy never otherwise carries.
const extBit = reportedBit

// regionExt is what a Region needs only with labels or while tracing.
type regionExt struct {
	u      *unitState
	ctx    context.Context // labels to restore, only with Config.Labels
	lctx   context.Context // ctx with the unit's label, for Do
	region *trace.Region   // only while an execution trace is being recorded
}

func (r Region) ext() *regionExt {
	if r.word&extBit == 0 {
		return nil
	}
	return (*regionExt)(r.p)
}

func (u *unitState) begin(ctx context.Context) Region {
	m := u.m
	var start int64
	if clockTSC {
		start = rdtsc()
	} else {
		start = nanotime()
	}
	g := curGoid()
	word := activeBit | u.idx<<unitShift | (uint64(g)&tagMask)<<tagShift | (uint64(start>>coarseShift) & startMask)
	var s *slot
	pid := procPin()
	if uint(pid) < uint(len(m.procs)) {
		ps := &m.procs[pid]
		ps.enter()
		if s = ps.take(); s != nil {
			if gp := m.table.goid(s); atomic.LoadInt64(gp) != g {
				storeI64(gp, g)
			}
			storeU64(&s.word, word)
		}
		ps.leave()
	}
	procUnpin()
	if s == nil {
		s = u.claimSlow(pid, g, word)
	}
	if !m.wdRunning.Load() && s != nil {
		m.startWatchdog()
	}
	if trace.IsEnabled() || m.labels.Load() {
		return u.beginExt(ctx, s, start, word)
	}
	return Region{unsafe.Pointer(u), s, start, word}
}

// beginCtx is begin that also returns the context carrying the unit's pprof
// label (nil without Config.Labels), for Do to pass on.
func (u *unitState) beginCtx(ctx context.Context) (Region, context.Context) {
	r := u.begin(ctx)
	if x := r.ext(); x != nil && x.lctx != nil {
		return r, x.lctx
	}
	return r, nil
}

// beginExt is Begin's out-of-line part for labels and tracing.
func (u *unitState) beginExt(ctx context.Context, s *slot, start int64, word uint64) Region {
	if ctx == nil {
		ctx = context.Background()
	}
	x := &regionExt{u: u}
	if trace.IsEnabled() {
		// While an execution trace is recorded the run is also a trace region
		// named after the unit, so trace analysis (hotloop analyze) can give
		// scheduling latency and waits per unit. Tracing off, this is one
		// atomic load; on, StartRegion allocates, as the tracer does anyway.
		x.region = trace.StartRegion(ctx, u.name)
	}
	if u.m.labels.Load() {
		x.ctx = ctx
		x.lctx = pprof.WithLabels(ctx, u.labels)
		pprof.SetGoroutineLabels(x.lctx)
	}
	return Region{unsafe.Pointer(x), s, start, word | extBit}
}

// claimSlow is Begin's path when the P's magazine is empty (or the P has
// none, pid >= len(m.procs)). With a magazine, it reserves a handful of free
// slots near the goroutine's hash (compare-and-swaps), keeps one and puts
// the rest in the magazine. Without one, or when that neighbourhood is full,
// it claims a single slot, which may grow the table.
func (u *unitState) claimSlow(pid int, g int64, word uint64) *slot {
	m := u.m
	h := goidHash(g)
	if uint(pid) < uint(len(m.procs)) {
		if s := m.refill(h); s != nil {
			atomic.StoreInt64(m.table.goid(s), g)
			atomic.StoreUint64(&s.word, word)
			return s
		}
	}
	s := m.table.claim(h, g, word)
	if s == nil {
		u.unwatched.Add(1)
		u.unwatchedTotal.Add(1)
	}
	return s
}

func goidHash(g int64) uint32 {
	if g == 0 {
		return rand.Uint32()
	}
	return uint32((uint64(g) * 0x9E3779B97F4A7C15) >> 40)
}

// End records the run: its duration goes into the unit's histogram, and the
// in-flight slot is released. If the watchdog reported the unit as stalled,
// End also queues the final report (Done) for the watchdog to deliver; it
// never blocks.
func (r Region) End() {
	if r.p == nil {
		return
	}
	var u *unitState
	if r.word&extBit != 0 {
		u = (*regionExt)(r.p).u
	} else {
		u = (*unitState)(r.p)
	}
	word := r.word &^ extBit
	var now int64
	if clockTSC {
		now = rdtsc()
	} else {
		now = nanotime()
	}
	d := ticksToNS(now - r.start)
	if s := r.slot; s != nil && atomic.LoadUint64(&s.word) == word {
		m := u.m
		limit := u.limit.Load()
		if pid := procPin(); uint(pid) < uint(len(m.procs)) {
			ps := &m.procs[pid]
			ps.enter()
			ps.put(s)
			h := (*pshard)(atomic.LoadPointer(&u.pshards[pid]))
			if h != nil {
				h.observe(d, limit)
			}
			ps.leave()
			procUnpin()
			if h == nil {
				u.observeSlow(pid, d) // the first End of the unit on this P
			}
			if word != r.word {
				r.ext().end()
			}
			return
		}
		procUnpin()
	}
	u.endSlow(r, word, d)
}

// endSlow is End for a unit that was reported or not watched, or on a P
// without per-P state.
func (u *unitState) endSlow(r Region, word uint64, d int64) {
	s := r.slot
	switch {
	case s == nil:
		u.unwatched.Add(-1)
	case !atomic.CompareAndSwapUint64(&s.word, word, 0):
		u.endReported(s, word, d) // reported (or End called twice)
	}
	u.observeSlow(-1, d)
	if x := r.ext(); x != nil {
		x.end()
	}
}

// observeSlow counts a run into the unit's atomic shards, and gives the
// unit counters of its own on P pid (>= 0: the run ended there without
// them) while the monitor's budget for them lasts.
func (u *unitState) observeSlow(pid int, d int64) {
	if pid >= 0 && atomic.LoadPointer(&u.pshards[pid]) == nil && u.m.takePShard() {
		if !atomic.CompareAndSwapPointer(&u.pshards[pid], nil, unsafe.Pointer(new(pshard))) {
			u.m.pshardsLeft.Add(1)
		}
	}
	sh := &u.shards[goidHash(curGoid())&(u.m.shards-1)]
	sh.hist.observe(d)
	if d > sh.max.Load() {
		sh.raiseMax(d)
	}
	if d > u.limit.Load() {
		sh.slow.Add(1)
	}
}

func (x *regionExt) end() {
	if x.ctx != nil {
		pprof.SetGoroutineLabels(x.ctx)
	}
	if x.region != nil {
		x.region.End()
	}
}

// endReported is End's slow path for a unit the watchdog reported.
func (u *unitState) endReported(s *slot, word uint64, d int64) {
	if !atomic.CompareAndSwapUint64(&s.word, word|reportedBit, 0) {
		return // End called twice: the slot is no longer ours
	}
	select {
	case u.m.endedQ <- ended{u: u, slot: s, word: word, elapsed: d}:
	default:
		u.m.dropped.Add(1)
	}
}

func (u *unitState) do(ctx context.Context, fn func(context.Context) error) error {
	r, lctx := u.beginCtx(ctx)
	defer r.End()
	if lctx != nil {
		ctx = lctx
	}
	return fn(ctx)
}
