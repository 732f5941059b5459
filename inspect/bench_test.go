package inspect

import (
	"context"
	"runtime/pprof"
	"runtime/trace"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var benchBase = time.Now()

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
		m := NewMonitor(Config{Slow: time.Second})
		defer m.Close()
		u := m.NewUnit("x")
		// Keep the watchdog running for the whole benchmark.
		hold := u.Begin(ctx)
		defer hold.End()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				u.Begin(ctx).End()
			}
		})
	})
	b.Run("e2=BeginEndByName", func(b *testing.B) {
		m := NewMonitor(Config{Slow: time.Second})
		defer m.Close()
		hold := m.Begin(ctx, "x")
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
