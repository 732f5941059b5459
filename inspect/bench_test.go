package inspect

import (
	"context"
	"fmt"
	"runtime/pprof"
	"runtime/trace"
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

// BenchmarkCost compares, in one run, the ways to time a unit of work.
// BENCHMARKS.md quotes the ratios: (e) BeginEnd against (a) TwoClockReads.
func BenchmarkCost(b *testing.B) {
	ctx := context.Background()
	b.Run("a=TwoClockReads", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			var sink time.Duration
			for pb.Next() {
				start := time.Since(benchBase)
				sink += time.Since(benchBase) - start
			}
			_ = sink
		})
	})
	b.Run("b=TimeNowPromObserve", func(b *testing.B) {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x_seconds", Buckets: prometheus.DefBuckets})
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				start := time.Now()
				h.Observe(time.Since(start).Seconds())
			}
		})
	})
	b.Run("c=PprofDo", func(b *testing.B) {
		labels := pprof.Labels("unit", "x")
		fn := func(context.Context) {}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				pprof.Do(ctx, labels, fn)
			}
		})
	})
	b.Run("d=TraceRegionOff", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				trace.StartRegion(ctx, "x").End()
			}
		})
	})
	b.Run("e=BeginEnd", func(b *testing.B) {
		m := NewMonitor(benchConfig)
		defer m.Close()
		u := m.NewUnit("x")
		// Keep the watchdog running for the whole benchmark.
		hold := m.Begin(ctx, "hold")
		defer hold.End()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				u.Begin(ctx).End()
			}
		})
	})
	b.Run("e2=BeginEndByName", func(b *testing.B) {
		m := NewMonitor(benchConfig)
		defer m.Close()
		hold := m.Begin(ctx, "hold")
		defer hold.End()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Begin(ctx, "x").End()
			}
		})
	})
}

func BenchmarkBeginEndLabels(b *testing.B) {
	ctx := context.Background()
	m := NewMonitor(Config{Slow: time.Second, Labels: true})
	defer m.Close()
	u := m.NewUnit("x")
	b.ReportAllocs()
	for b.Loop() {
		u.Begin(ctx).End()
	}
}

func BenchmarkBudgetYield(b *testing.B) {
	bud := NewBudget(time.Hour)
	for b.Loop() {
		bud.Yield()
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
	for b.Loop() {
		active = w.scan()
	}
	st := m.Snapshot()[0]
	b.ReportMetric(float64(active), "watched")
	b.ReportMetric(float64(st.Unwatched), "unwatched")
	b.ReportMetric(float64(m.table.size()), "slots")
	close(release)
	for range n {
		<-done
	}
}
