package inspect

import (
	"context"
	"math/rand/v2"
	"runtime/pprof"
	"runtime/trace"
	"sync/atomic"
)

// A slot word describes one unit in flight in 64 bits, so that claiming a
// slot publishes everything the watchdog needs with a single compare-and-swap:
//
//	bit 63      active
//	bit 62      reported (set by the watchdog: End must send a final report)
//	bits 50-61  unit index (1-based; 0 = none)
//	bits 40-49  low 10 bits of the goroutine id, to validate the id word
//	bits 0-39   start time in µs, modulo 2^40; see elapsedUS
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

// elapsedUS returns how long ago, in µs, the unit in a slot word started.
// The 40-bit difference is sign-extended: a Begin that read the clock after
// the caller did (a scan in progress) is a little in the future, negative,
// not 12 days old. So units are timed correctly up to 2^39 µs (6.4 days);
// one running longer looks younger than it is. Branch-free: two shifts.
func elapsedUS(nowUS int64, word uint64) int64 {
	return int64((uint64(nowUS)-word)<<24) >> 24
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

	shards []unitShard
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
// Cost, Begin+End of a unit that is not slow: two monotonic clock reads, a
// compare-and-swap to claim an in-flight slot, one to release it, two atomic
// adds into the unit's histogram shard; no allocation, no lock, no map
// lookup (see BenchmarkCost). ctx is only read when Config.Labels is on.
func (u *Unit) Begin(ctx context.Context) Region { return u.s.begin(ctx) }

// Do runs fn as one run of the unit.
func (u *Unit) Do(ctx context.Context, fn func(context.Context) error) error {
	return u.s.do(ctx, fn)
}

// Region is one run of a unit in progress, returned by Begin. It is a small
// value; End records it. End must be called exactly once, on the goroutine
// that called Begin (as for a runtime/trace region, which it also is while an
// execution trace is recorded). The zero Region's End does nothing.
type Region struct {
	u      *unitState
	start  int64 // nanotime
	word   uint64
	slot   *atomic.Uint64 // the in-flight slot's word; nil: not watched
	shard  uint32
	ctx    context.Context // labels to restore, only with Config.Labels
	region *trace.Region   // only while an execution trace is being recorded
}

func (u *unitState) begin(ctx context.Context) Region {
	r, _ := u.beginCtx(ctx)
	return r
}

// beginCtx is begin that also returns the context carrying the unit's pprof
// label (nil without Config.Labels), for Do to pass on.
func (u *unitState) beginCtx(ctx context.Context) (Region, context.Context) {
	m := u.m
	start := nanotime()
	g := curGoid()
	var h uint32
	if g != 0 {
		h = uint32((uint64(g) * 0x9E3779B97F4A7C15) >> 40)
	} else {
		h = rand.Uint32()
	}
	word := activeBit | u.idx<<unitShift | (uint64(g)&tagMask)<<tagShift | (uint64(start/1000) & startMask)
	r := Region{u: u, start: start, word: word, shard: h & (m.shards - 1)}
	r.slot = m.table.claim(h, g, word)
	if r.slot == nil {
		u.unwatched.Add(1)
		u.unwatchedTotal.Add(1)
	} else if !m.wdRunning.Load() {
		m.startWatchdog()
	}
	if trace.IsEnabled() {
		// While an execution trace is recorded the run is also a trace region
		// named after the unit, so trace analysis (hotloop analyze) can give
		// scheduling latency and waits per unit. Tracing off, this is one
		// atomic load; on, StartRegion allocates, as the tracer does anyway.
		if ctx == nil {
			ctx = context.Background()
		}
		r.region = trace.StartRegion(ctx, u.name)
	}
	if m.labels.Load() {
		if ctx == nil {
			ctx = context.Background()
		}
		r.ctx = ctx
		lctx := pprof.WithLabels(ctx, u.labels)
		pprof.SetGoroutineLabels(lctx)
		return r, lctx
	}
	return r, nil
}

// End records the run: its duration goes into the unit's histogram, and the
// in-flight slot is released. If the watchdog reported the unit as stalled,
// End also queues the final report (Done) for the watchdog to deliver; it
// never blocks.
func (r Region) End() {
	u := r.u
	if u == nil {
		return
	}
	d := nanotime() - r.start
	if r.slot != nil {
		if !r.slot.CompareAndSwap(r.word, 0) {
			u.endReported(r, d)
		}
	} else {
		u.unwatched.Add(-1)
	}
	sh := &u.shards[r.shard]
	sh.hist.observe(d)
	if d > sh.max.Load() {
		sh.raiseMax(d)
	}
	if d > u.limit.Load() {
		sh.slow.Add(1)
	}
	if r.ctx != nil {
		pprof.SetGoroutineLabels(r.ctx)
	}
	if r.region != nil {
		r.region.End()
	}
}

// endReported is End's slow path for a unit the watchdog reported.
func (u *unitState) endReported(r Region, d int64) {
	if !r.slot.CompareAndSwap(r.word|reportedBit, 0) {
		return // End called twice: the slot is no longer ours
	}
	select {
	case u.m.endedQ <- ended{u: u, slot: r.slot, word: r.word, elapsed: d}:
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
