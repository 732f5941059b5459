package inspect

import (
	"math"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The clock. Begin and End read a tick counter, not the runtime's nanotime:
// on linux/amd64, where the kernel itself keeps time with the TSC, that
// counter is the TSC read with one RDTSC instruction (the way Rust's minstant
// and quanta time things), which costs well under half of a clock_gettime
// through the vDSO (BENCHMARKS.md, the (a2) row). Everywhere else ticks are
// nanotime's nanoseconds.
//
// Ticks become nanoseconds by one 64x64->128-bit multiply with tickMult, the
// nanoseconds per tick in 32.32 fixed point. In nanotime mode tickMult is
// exactly 1<<32, so the conversion is the identity. In TSC mode it is
// measured against nanotime from a reference pair taken at package
// initialisation: first when the first Monitor is made (which waits, once,
// until the pair is 50 µs old, if it is not already, so the first estimate
// is within ~0.1%), then by the watchdog each time the baseline has doubled,
// so it converges on the ratio over the process's whole life (NTP's slewing
// of CLOCK_MONOTONIC included). A measurement that is not a plausible TSC
// rate (1-16 GHz), or a TSC that stood still or went back, is ignored; if
// the first is, the clock is nanotime.
//
// The TSC is trusted only when the kernel trusts it: its current clocksource
// is "tsc" (the kernel switches away from a TSC it finds unsynchronised or
// unstable across CPUs) and the CPU says constant_tsc and nonstop_tsc; and
// it is used only if reading it is measured to be cheaper than nanotime (it
// is not where a hypervisor traps RDTSC) and prctl(PR_GET_TSC) says RDTSC
// does not fault. The environment variable HOTLOOP_INSPECT_CLOCK=nanotime
// turns it off; then RDTSC is never executed.

const (
	// coarseShift turns ticks into the coarse ticks of a slot word's start
	// (see unit.go): ~1 µs for TSCs of 2-4 GHz, 2 µs for nanotime.
	coarseShift = 11

	// calibMinBaseline is how old the reference pair must be before the
	// first ratio is taken from it.
	calibMinBaseline = 50 * time.Microsecond
)

var (
	clockOnce sync.Once
	clockTSC  bool // set once, before any Monitor exists
	tickMult  atomic.Uint64

	calibMu   sync.Mutex
	calibNext int64 // nanotime at which the watchdog next refines tickMult

	// The reference pair, taken at package initialisation so that by the
	// time the first Monitor calibrates it is usually old enough; only
	// where RDTSC may run at all (tscAllowed: not turned off, not made to
	// fault by prctl(PR_SET_TSC)).
	refTicks, refNanos = initialPair()
)

func initialPair() (int64, int64) {
	if !tscAllowed() {
		return 0, 0
	}
	return clockPair()
}

// tscAllowed reports whether RDTSC may be executed: there is one, the
// environment does not turn it off, and the thread is not set to fault on
// it.
func tscAllowed() bool {
	return haveTSC && os.Getenv("HOTLOOP_INSPECT_CLOCK") != "nanotime" && tscEnabled()
}

// ticks reads the tick counter. Begin and End spell it out (the inliner
// prices two calls over its budget).
func ticks() int64 {
	if clockTSC {
		return rdtsc()
	}
	return nanotime()
}

// initClock picks the tick counter; NewMonitor calls it, so it runs before
// any Region exists.
func initClock() {
	clockOnce.Do(func() {
		// refTicks is set only where tscAllowed held at initialisation.
		clockTSC = refTicks != 0 && tscTrusted() && tscCheaper()
		if clockTSC && calibrate(false) == 0 {
			clockTSC = false // no plausible rate: see calibrate
		}
		if !clockTSC {
			tickMult.Store(1 << 32)
		}
	})
}

// ticksToNS converts a tick count (a duration) to nanoseconds; negative
// counts (a TSC read on another CPU a few cycles behind) are 0. tickMult is
// at most 1<<32 (initClock refuses a TSC slower than 1 GHz), so the product
// fits. Small enough to inline into End.
func ticksToNS(d int64) int64 {
	hi, lo := bits.Mul64(uint64(max(d, 0)), tickMult.Load())
	return int64(hi<<32 | lo>>32)
}

// nsToTicks converts nanoseconds to ticks, for thresholds.
func nsToTicks(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	m := tickMult.Load()
	hi, lo := uint64(ns)>>32, uint64(ns)<<32
	if hi >= m {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, m)
	return int64(min(q, math.MaxInt64))
}

// clockPair reads ticks and nanotime as close together as it can: the best
// of a few bracketed reads, with the ticks taken at the middle of the
// nanotime read. Without a TSC it returns nanotime twice.
func clockPair() (t, ns int64) {
	best := int64(math.MaxInt64)
	for range 5 {
		a := rdtsc()
		n := nanotime()
		b := rdtsc()
		if b-a < best {
			best, t, ns = b-a, a+(b-a)/2, n
		}
	}
	return t, ns
}

// calibrate measures tickMult from the reference pair. The first call
// (initClock's) waits until the pair is calibMinBaseline old, which it
// usually already is; later ones (refine) only run when the baseline has
// doubled since the last.
func calibrate(refine bool) uint64 {
	calibMu.Lock()
	defer calibMu.Unlock()
	if m := tickMult.Load(); m != 0 && (!refine || nanotime() < calibNext) {
		return m
	}
	t, ns := clockPair()
	for ns-refNanos < int64(calibMinBaseline) {
		t, ns = clockPair()
	}
	calibNext = ns + (ns - refNanos) // when the baseline has doubled
	dt, dn := uint64(t-refTicks), uint64(ns-refNanos)
	if t <= refTicks || dn>>32 >= dt {
		// The TSC stood still or went back (a restored checkpoint, a
		// migration without TSC scaling), or runs under a tick per 4 s
		// (Div64 would overflow): keep what we had.
		return tickMult.Load()
	}
	m, _ := bits.Div64(dn>>32, dn<<32, dt)
	if m < minTickMult || m > maxTickMult {
		return tickMult.Load() // not a rate a TSC runs at
	}
	tickMult.Store(m)
	return m
}

// The plausible TSC rates, as ns per tick in 32.32: 1 GHz (which also keeps
// ticksToNS's product in range) to 16 GHz.
const (
	maxTickMult = 1 << 32
	minTickMult = 1 << 28
)

// refineClock is called by the watchdog every tick; it re-measures tickMult
// only when the baseline has doubled since the last measurement.
func refineClock() {
	if clockTSC {
		calibrate(true)
	}
}

// tscCheaper reports whether reading the TSC is clearly cheaper than
// nanotime here, as it is unless a hypervisor traps RDTSC: the best of three
// rounds of 32 reads each (a few microseconds, once).
func tscCheaper() bool {
	best := [2]int64{math.MaxInt64, math.MaxInt64}
	for range 3 {
		t0 := nanotime()
		for range 32 {
			rdtsc()
		}
		t1 := nanotime()
		for range 32 {
			nanotime()
		}
		t2 := nanotime()
		best[0], best[1] = min(best[0], t1-t0), min(best[1], t2-t1)
	}
	return best[0] < best[1]*9/10
}

// tscTrusted reports whether the kernel keeps time with a constant,
// non-stop TSC.
func tscTrusted() bool {
	cs, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil || string(cs) != "tsc\n" {
		return false
	}
	return cpuFlags("constant_tsc", "nonstop_tsc")
}
