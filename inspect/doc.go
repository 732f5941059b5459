// Package inspect times goroutine work units for almost nothing, and when
// one runs too long, says while it is still stuck what state its goroutine is
// in and where.
//
//	defer inspect.Begin(ctx, "decode").End()   // like runtime/trace regions
//
//	u := inspect.NewUnit("rewrite")            // hot loops: resolve once
//	for msg := range in {
//		r := u.Begin(ctx)
//		rewrite(msg)
//		r.End()
//	}
//
//	err := inspect.Do(ctx, "flush", func(ctx context.Context) error { ... })
//
// Every unit has a threshold (Config.Slow, 10 ms by default, overridable
// per unit). A watchdog goroutine scans the units in flight; one still
// running past its threshold is reported within 1.5x the threshold, with its
// goroutine's state in the runtime's words ("runnable", "chan receive",
// "IO wait", "sync.Mutex.Lock", ...) and its stack, again at 2x, 4x, ...
// the threshold, and a last time (Done) when it ends. Reports go to a slog
// line by default, or to Config.OnStall.
//
// Costs. Begin/End of a unit that is not slow: two reads of the tick
// counter (the TSC where the kernel keeps time with it, else the runtime's
// monotonic clock; see clock.go), and, pinned to the P for a few
// instructions, an in-flight slot from the P's magazine and the unit's per-P
// counters, written with plain stores: no atomic read-modify-write, no
// allocation, no lock, no map lookup (Begin(ctx, name) adds one lookup in an
// immutable map; NewUnit avoids it). BenchmarkCost measures it against two
// clock reads in one run. The watchdog costs one atomic load per in-flight
// slot per tick (the table grows with concurrency: 1024 slots, ~2 µs, for a
// few hundred units in flight) and nothing else while nothing is slow; a
// stack capture (runtime.Stack of all goroutines, which stops the world)
// happens only when a unit is due a report, at most Config.DumpsPerSecond
// times a second. Memory is bounded: Config.MaxUnits names (~2 KiB of
// histogram each, once per P it ended on, at most 8192 such sets per
// Monitor, plus one atomic shard), an in-flight table of
// at most Config.Slots x 16 bytes, Config.MaxStalls reports of at most
// Config.MaxFrames frames and 16 KiB of stack text.
//
// Statistics: Snapshot gives per unit counts, in-flight, slow and stall
// counts, total and max, quantiles and a mergeable Histogram; InFlight lists
// the runs in progress. The inspectprom subpackage exports them to
// Prometheus, and inspecttest fails a test that stalled.
//
// Budget makes long CPU-bound loops yield their P once their time slice is
// used up, for about a nanosecond per call otherwise.
//
// Goroutine ids: Begin reads the current goroutine's id out of the runtime's
// g struct, at an offset calibrated at start-up against runtime.Stack (see
// goid.go). On platforms without that (other than amd64, arm64 and 386
// with the gc toolchain), units are timed and watched but reports carry no
// stack.
//
// Everything here is safe for concurrent use, except a Budget, which belongs
// to one goroutine. The default monitor's watchdog goroutine,
// inspect.(*Monitor).watch, exits after a second with no unit in flight;
// tests that check for leaks right after using the default monitor can
// ignore it (goleak.IgnoreAnyFunction) or use their own Monitor and Close it.
package inspect
