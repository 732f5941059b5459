package inspectprom_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/inspect/inspectprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestCollector(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := inspect.NewMonitor(inspect.Config{Slow: time.Hour, SlowUnits: map[string]time.Duration{"parse": 500 * time.Microsecond}})
	defer m.Close()
	ctx := context.Background()
	for range 3 {
		m.Begin(ctx, "parse").End()
	}
	r := m.Begin(ctx, "parse")
	time.Sleep(2 * time.Millisecond) // the timed work
	r.End()
	held := m.Begin(ctx, "flush")
	defer held.End()

	c := inspectprom.New(m)
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP hotloop_unit_runs_total Completed runs of the work unit.
# TYPE hotloop_unit_runs_total counter
hotloop_unit_runs_total{unit="flush"} 0
hotloop_unit_runs_total{unit="parse"} 4
# HELP hotloop_unit_slow_total Completed runs that took longer than the unit's stall threshold.
# TYPE hotloop_unit_slow_total counter
hotloop_unit_slow_total{unit="flush"} 0
hotloop_unit_slow_total{unit="parse"} 1
# HELP hotloop_unit_in_flight Runs of the work unit in progress.
# TYPE hotloop_unit_in_flight gauge
hotloop_unit_in_flight{unit="flush"} 1
hotloop_unit_in_flight{unit="parse"} 0
# HELP hotloop_unit_threshold_seconds The unit's stall threshold.
# TYPE hotloop_unit_threshold_seconds gauge
hotloop_unit_threshold_seconds{unit="flush"} 3600
hotloop_unit_threshold_seconds{unit="parse"} 0.0005
`), "hotloop_unit_runs_total", "hotloop_unit_slow_total", "hotloop_unit_in_flight", "hotloop_unit_threshold_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "hotloop_unit_duration_seconds"); n != 2 {
		t.Errorf("%d duration histograms", n)
	}
	// The histogram: count, and the 2 ms run above the 1.048576 ms bucket.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hotloop_unit_duration_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if mt.GetLabel()[0].GetValue() != "parse" {
				continue
			}
			h := mt.GetHistogram()
			if h.GetSampleCount() != 4 || h.GetSampleSum() < 0.002 {
				t.Errorf("count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
			}
			var below1ms, total uint64
			for _, b := range h.GetBucket() {
				if b.GetUpperBound() > 0.00104 && b.GetUpperBound() < 0.00105 {
					below1ms = b.GetCumulativeCount()
				}
				total = b.GetCumulativeCount()
			}
			if below1ms != 3 || total != 4 || len(h.GetBucket()) < 20 {
				t.Errorf("buckets: <=1.05ms %d, last %d, %d buckets", below1ms, total, len(h.GetBucket()))
			}
		}
	}
}

func TestLint(t *testing.T) {
	m := inspect.NewMonitor(inspect.Config{})
	defer m.Close()
	m.Begin(context.Background(), "x").End()
	problems, err := testutil.CollectAndLint(inspectprom.New(m))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
