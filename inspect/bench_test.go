package inspect

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var benchBase = time.Now()

// benchConfig: a 100 ms threshold (a 50 ms tick) so that a benchmark
// goroutine descheduled on a loaded machine is not reported; the tick rate
// does not touch the fast path. The unit that keeps the watchdog running is
// exempt.
var benchConfig = Config{Slow: 100 * time.Millisecond, SlowUnits: map[string]time.Duration{"hold": time.Hour}, OnStall: func(Stall) {}}

// costCases are the ways to time a unit of work that BenchmarkCost and
// BenchmarkCostParallel compare in one run; BENCHMARKS.md quotes the ratios
// of (e) to (a) and (b).
func costCases(b *testing.B) []struct {
	name string
	op   func()
	done func()
} {
	ctx := context.Background()
	var sink time.Duration
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x_seconds", Buckets: prometheus.DefBuckets})
	labels := pprof.Labels("unit", "x")
	nop := func(context.Context) {}
	var counter atomic.Int64
	m := NewMonitor(benchConfig)
	u := m.NewUnit("x")
	// Keep the watchdog running for the whole benchmark.
	hold := m.Begin(ctx, "hold")
	return []struct {
		name string
		op   func()
		done func()
	}{
		{"a=TwoClockReads", func() {
			start := time.Since(benchBase)
			sink += time.Since(benchBase) - start
		}, nil},
		// The clock Begin/End read (clock.go): the TSC where the kernel
		// trusts it, else nanotime. (e) - (a2) is what inspect adds to
		// the clock it reads.
		{"a2=TwoTickReads", func() {
			start := ticks()
			sink += time.Duration(ticks() - start)
		}, nil},
		{"b=TimeNowPromObserve", func() {
			start := time.Now()
			hist.Observe(time.Since(start).Seconds())
		}, nil},
		{"c=PprofDo", func() { pprof.Do(ctx, labels, nop) }, nil},
		{"d=TraceRegionOff", func() { trace.StartRegion(ctx, "x").End() }, nil},
		{"e=BeginEnd", func() { u.Begin(ctx).End() }, nil},
		{"e2=BeginEndByName", func() { m.Begin(ctx, "x").End() }, func() { hold.End(); m.Close() }},
		// Reference: the price of one atomic read-modify-write on this
		// machine, which Begin/End's per-P fast path (percpu.go) avoids.
		{"f=OneAtomicAdd", func() { counter.Add(1) }, nil},
	}
}

// BenchmarkCost runs each case on one goroutine (see cpuLoop).
func BenchmarkCost(b *testing.B) {
	cases := costCases(b)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { cpuLoop(b, c.op) })
	}
	for _, c := range cases {
		if c.done != nil {
			c.done()
		}
	}
}

// cpuLoop runs op b.N times on a locked thread and reports, besides wall
// time, cpu-ns/op: the thread's own CPU time per op (linux), which a loaded
// machine does not inflate the way it inflates wall time.
func cpuLoop(b *testing.B, op func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	c0 := threadCPU()
	for b.Loop() {
		op()
	}
	if c0 >= 0 {
		b.ReportMetric(float64(threadCPU()-c0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkCostParallel runs each case on GOMAXPROCS goroutines (-cpu 1,2,4):
// Begin/End must scale like the clock reads it is made of. cpu-ns/op is the
// whole process's CPU time per op: it stays flat as -cpu grows when nothing
// contends, and it is not inflated by other processes on a loaded machine
// the way wall time is.
func BenchmarkCostParallel(b *testing.B) {
	cases := costCases(b)
	for _, c := range cases {
		if c.name == "f=OneAtomicAdd" {
			continue // one shared counter: contention, not a per-op anchor
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			c0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.op()
				}
			})
			if c0 >= 0 {
				b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
			}
		})
	}
	for _, c := range cases {
		if c.done != nil {
			c.done()
		}
	}
}

func BenchmarkBeginEndLabels(b *testing.B) {
	ctx := context.Background()
	m := NewMonitor(Config{Slow: time.Second, Labels: true})
	defer m.Close()
	u := m.NewUnit("x")
	cpuLoop(b, func() { u.Begin(ctx).End() })
}

func BenchmarkBudgetYield(b *testing.B) {
	// Inline loop, not cpuLoop: an indirect call would cost as much as Yield.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	bud := NewBudget(time.Hour)
	c0 := threadCPU()
	for b.Loop() {
		bud.Yield()
	}
	if c0 >= 0 {
		b.ReportMetric(float64(threadCPU()-c0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkWatchdogScan measures one watchdog scan with n units in flight
// (in n goroutines), none due a report: the watchdog's whole cost per tick
// while nothing is slow. Multiply by the tick rate (2/Slow: 200/s at the
// default 10 ms) for its CPU share. The table grows with concurrency (1024
// slots for 100 units, 16384 for 10,000).
func BenchmarkWatchdogScan(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) { benchScan(b, n) })
	}
}

func benchScan(b *testing.B, n int) {
	m := NewMonitor(Config{Slow: time.Hour})
	defer m.Close()
	release := make(chan struct{})
	started := make(chan struct{}, n)
	done := make(chan struct{}, n)
	for range n {
		go func() {
			m.Do(context.Background(), "held", func(context.Context) error {
				started <- struct{}{}
				<-release
				return nil
			})
			done <- struct{}{}
		}()
	}
	for range n {
		<-started
	}
	w := &watchdog{m: m, tracked: map[trackKey]*tracked{}}
	var active int
	cpuLoop(b, func() { active = w.scan() })
	st := m.Snapshot()[0]
	b.ReportMetric(float64(active), "watched")
	b.ReportMetric(float64(st.Unwatched), "unwatched")
	b.ReportMetric(float64(m.table.size()), "slots")
	close(release)
	for range n {
		<-done
	}
}
