// Package inspectprom exports inspect's unit statistics to Prometheus:
//
//	prometheus.MustRegister(inspectprom.New(nil)) // nil: the default monitor
//
// It is a separate package so that inspect itself depends on nothing.
//
// Metrics, each labelled unit="<name>":
//
//	hotloop_unit_runs_total            completed runs
//	hotloop_unit_slow_total            completed runs longer than the unit's threshold
//	hotloop_unit_stalls_total          runs the watchdog reported while they ran
//	hotloop_unit_in_flight             runs in progress
//	hotloop_unit_threshold_seconds     the unit's stall threshold
//	hotloop_unit_duration_seconds      histogram of run durations
//
// The histogram's buckets are inspect's power-of-two boundaries (1.024 µs,
// 2.048 µs, ... ~137 s), so its counts are exact, not re-binned. Collect
// takes one inspect.Snapshot; it does not touch the units' fast path.
package inspectprom

import (
	"github.com/hotloop/hotloop/inspect"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a prometheus.Collector for one inspect.Monitor.
type Collector struct {
	m                                        *inspect.Monitor
	runs, slow, stalls, inFlight, limit, dur *prometheus.Desc
}

// New returns a collector for m, or for the default monitor when m is nil.
func New(m *inspect.Monitor) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("hotloop_unit_"+name, help, []string{"unit"}, nil)
	}
	return &Collector{
		m:        m,
		runs:     d("runs_total", "Completed runs of the work unit."),
		slow:     d("slow_total", "Completed runs that took longer than the unit's stall threshold."),
		stalls:   d("stalls_total", "Runs the inspect watchdog reported as stalled while they ran."),
		inFlight: d("in_flight", "Runs of the work unit in progress."),
		limit:    d("threshold_seconds", "The unit's stall threshold."),
		dur:      d("duration_seconds", "Duration of completed runs of the work unit."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.runs, c.slow, c.stalls, c.inFlight, c.limit, c.dur} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	if m == nil {
		m = inspect.Default()
	}
	for _, st := range m.Snapshot() {
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(st.Count), st.Name)
		ch <- prometheus.MustNewConstMetric(c.slow, prometheus.CounterValue, float64(st.Slow), st.Name)
		ch <- prometheus.MustNewConstMetric(c.stalls, prometheus.CounterValue, float64(st.Stalls), st.Name)
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(st.InFlight), st.Name)
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, st.Limit.Seconds(), st.Name)
		ch <- prometheus.MustNewConstHistogram(c.dur, st.Hist.Count(), st.Hist.Sum.Seconds(), buckets(st.Hist), st.Name)
	}
}

// buckets folds inspect's log-linear buckets into cumulative counts at each
// power of two.
func buckets(h inspect.Histogram) map[float64]uint64 {
	out := make(map[float64]uint64, 32)
	var cum uint64
	for i, n := range h.Counts {
		cum += n
		if i == inspect.NumBuckets-1 {
			break // the overflow bucket is +Inf, implied by the count
		}
		up := inspect.BucketUpper(i)
		if up&(up-1) == 0 { // a power of two
			out[up.Seconds()] = cum
		}
	}
	return out
}
