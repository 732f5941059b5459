package probes

import (
	"fmt"
	"runtime/metrics"
	"sort"
	"strings"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
)

// The GC probe reads runtime/metrics once per GCWindow (200 ms by default):
// one metrics.Read of a dozen values, ~5-10 µs, plus one inspect Snapshot
// (~2 KiB copied per unit). It splits time into windows that overlap a GC
// cycle and windows that do not, and keeps, per inspect unit, one latency
// histogram for each kind of window. A unit whose p99 is much higher in GC
// windows is waiting on the collector: assists, stop-the-world pauses, or
// mark workers taking its CPU. Memory: two histograms of ~1.7 KiB per unit,
// for at most 256 units (~900 KiB at worst).
//
// Whether a window overlaps a cycle comes from counting stop-the-world pauses:
// every cycle stops the world twice, once to start (sweep termination) and
// once to finish (mark termination), so the GC pause count minus twice the
// completed cycles is 1 exactly while a cycle is marking. A window overlaps a
// cycle if one was marking at its start or its end or completed within it.

const (
	mGCAuto    = "/gc/cycles/automatic:gc-cycles"
	mGCForced  = "/gc/cycles/forced:gc-cycles"
	mGCTotal   = "/gc/cycles/total:gc-cycles"
	mGCPauses  = "/sched/pauses/total/gc:seconds"
	mCPUGC     = "/cpu/classes/gc/total:cpu-seconds"
	mCPUAssist = "/cpu/classes/gc/mark/assist:cpu-seconds"
	mCPUTotal  = "/cpu/classes/total:cpu-seconds"
	mHeapLive  = "/gc/heap/live:bytes"
	mHeapGoal  = "/gc/heap/goal:bytes"

	maxGCUnits = 256 // units correlated; more are ignored
)

// gcSample is one read of the GC metrics.
type gcSample struct {
	t                     time.Time
	auto, forced, total   uint64
	pauses                uint64 // count of GC stop-the-world pauses
	pauseHist             *metrics.Float64Histogram
	cpuGC, assist, cpuAll float64
	live, goal            uint64
}

func (s gcSample) marking() bool { return s.pauses > 2*s.total }

type gcUnit struct {
	gc, nogc inspect.Histogram
}

// gcState is what the GC probe has learned; guarded by gcProbe.mu via Probes.mu.
type gcState struct {
	start        gcSample
	last         gcSample
	windows      int
	gcWindows    int
	maxPause     time.Duration
	liveMax      uint64
	units        map[string]*gcUnit
	unitsDropped int
	havePauses   bool
}

type gcProbe struct {
	p       *Probes
	samples []metrics.Sample
	idx     map[string]int
	prev    gcSample
	prevU   map[string]inspect.Histogram
}

func newGCProbe(p *Probes) *gcProbe {
	g := &gcProbe{p: p, idx: map[string]int{}, prevU: map[string]inspect.Histogram{}}
	for _, name := range []string{mGCAuto, mGCForced, mGCTotal, mGCPauses, mCPUGC, mCPUAssist, mCPUTotal, mHeapLive, mHeapGoal} {
		if metricsSupported(name) {
			g.idx[name] = len(g.samples)
			g.samples = append(g.samples, metrics.Sample{Name: name})
		}
	}
	return g
}

func (g *gcProbe) read() gcSample {
	metrics.Read(g.samples)
	s := gcSample{t: time.Now()}
	u := func(name string) uint64 {
		if i, ok := g.idx[name]; ok && g.samples[i].Value.Kind() == metrics.KindUint64 {
			return g.samples[i].Value.Uint64()
		}
		return 0
	}
	f := func(name string) float64 {
		if i, ok := g.idx[name]; ok && g.samples[i].Value.Kind() == metrics.KindFloat64 {
			return g.samples[i].Value.Float64()
		}
		return 0
	}
	s.auto, s.forced, s.total = u(mGCAuto), u(mGCForced), u(mGCTotal)
	s.live, s.goal = u(mHeapLive), u(mHeapGoal)
	s.cpuGC, s.assist, s.cpuAll = f(mCPUGC), f(mCPUAssist), f(mCPUTotal)
	if i, ok := g.idx[mGCPauses]; ok && g.samples[i].Value.Kind() == metrics.KindFloat64Histogram {
		h := g.samples[i].Value.Float64Histogram()
		// Copy: metrics.Read reuses the histogram's memory on the next read.
		c := &metrics.Float64Histogram{Counts: append([]uint64(nil), h.Counts...), Buckets: h.Buckets}
		for _, n := range c.Counts {
			s.pauses += n
		}
		s.pauseHist = c
	}
	return s
}

func (g *gcProbe) snapshotUnits() map[string]inspect.Histogram {
	m := map[string]inspect.Histogram{}
	for _, st := range g.p.cfg.Monitor.Snapshot() {
		if len(m) >= maxGCUnits {
			break
		}
		m[st.Name] = st.Hist
	}
	return m
}

// run drives the GC probe on its own goroutine; used only when the starvation
// detector is off (otherwise the sentinel's wake-ups drive it, saving a
// thread wake-up per window).
func (g *gcProbe) run(stop <-chan struct{}) {
	g.p.addSelf(curGoroutineID())
	g.init()
	t := time.NewTicker(g.p.cfg.GCWindow)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		g.window()
	}
}

// init takes the baseline the first window is measured from.
func (g *gcProbe) init() {
	g.prev = g.read()
	g.prevU = g.snapshotUnits()
	g.p.mu.Lock()
	g.p.gc = &gcState{start: g.prev, last: g.prev, units: map[string]*gcUnit{}, havePauses: g.prev.pauseHist != nil}
	g.p.mu.Unlock()
}

// window closes one window: classify it, fold unit latencies in, maybe emit.
func (g *gcProbe) window() {
	cur := g.read()
	units := g.snapshotUnits()
	prev := g.prev
	overlaps := cur.total > prev.total || prev.marking() || cur.marking()
	cycles := cur.total - prev.total
	forced := cur.forced - prev.forced
	var maxPause time.Duration
	if cur.pauseHist != nil && prev.pauseHist != nil && len(cur.pauseHist.Counts) == len(prev.pauseHist.Counts) {
		for i := len(cur.pauseHist.Counts) - 1; i >= 0; i-- {
			if cur.pauseHist.Counts[i] > prev.pauseHist.Counts[i] {
				// Upper bound of the bucket (the last one is +Inf: use its lower).
				b := cur.pauseHist.Buckets[i+1]
				if b > 1e9 || b != b {
					b = cur.pauseHist.Buckets[i]
				}
				maxPause = time.Duration(b * float64(time.Second))
				break
			}
		}
	}
	g.p.mu.Lock()
	st := g.p.gc
	st.windows++
	if overlaps {
		st.gcWindows++
	}
	st.last = cur
	st.maxPause = max(st.maxPause, maxPause)
	st.liveMax = max(st.liveMax, cur.live)
	for name, h := range units {
		d := h.Sub(g.prevU[name])
		if d.Count() == 0 {
			continue
		}
		u := st.units[name]
		if u == nil {
			if len(st.units) >= maxGCUnits {
				st.unitsDropped++
				continue
			}
			u = &gcUnit{}
			st.units[name] = u
		}
		if overlaps {
			u.gc = u.gc.Add(d)
		} else {
			u.nogc = u.nogc.Add(d)
		}
	}
	g.p.mu.Unlock()
	g.prev, g.prevU = cur, units

	if cycles == 0 {
		return
	}
	win := cur.t.Sub(prev.t)
	gcCPU, allCPU := cur.cpuGC-prev.cpuGC, cur.cpuAll-prev.cpuAll
	share := 0.0
	if allCPU > 0 {
		share = gcCPU / allCPU
	}
	assist := time.Duration((cur.assist - prev.assist) * float64(time.Second))
	// Notable: someone forced it, it stopped the world for 1 ms or more, or
	// it took a quarter of the CPU (the pacer's own target) or more.
	if forced == 0 && maxPause < time.Millisecond && share < 0.25 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d GC cycle(s) in %s", cycles, findings.FormatDuration(win))
	if forced > 0 {
		fmt.Fprintf(&b, " (%d forced)", forced)
	}
	fmt.Fprintf(&b, "; longest pause <= %s; GC %.0f%% of CPU; assists %s; live heap %s",
		findings.FormatDuration(maxPause), share*100, findings.FormatDuration(assist), findings.FormatBytes(float64(cur.live)))
	g.p.emit(Event{Kind: KindGC, Time: cur.t, Duration: maxPause, Detail: b.String()})
}

// gcFindings turns what the GC probe learned into findings: one per unit whose
// p99 in windows overlapping a GC cycle is at least twice its p99 elsewhere
// (with at least 20 runs on each side), and one for the collector's CPU share
// when it is 10% or more.
func (p *Probes) gcFindings() []Finding {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.gc
	if st == nil || st.windows == 0 {
		return nil
	}
	elapsed := st.last.t.Sub(st.start.t)
	cycles := st.last.total - st.start.total
	forced := st.last.forced - st.start.forced
	gcCPU := st.last.cpuGC - st.start.cpuGC
	allCPU := st.last.cpuAll - st.start.cpuAll
	cadence := func() string {
		var parts []string
		if forced > 0 {
			parts = append(parts, fmt.Sprintf("1 forced GC every %s", findings.FormatDuration(elapsed/time.Duration(forced))))
		}
		if auto := st.last.auto - st.start.auto; auto > 0 {
			parts = append(parts, fmt.Sprintf("1 automatic GC every %s", findings.FormatDuration(elapsed/time.Duration(auto))))
		}
		return strings.Join(parts, "; ")
	}
	common := []findings.Evidence{
		{Name: "GC cycles", Value: float64(cycles), Unit: "count"},
		{Name: "forced", Value: float64(forced), Unit: "count"},
		{Name: "live heap marked per cycle", Value: float64(st.last.live), Unit: "bytes"},
		{Name: "longest GC pause", Value: st.maxPause.Seconds(), Unit: "seconds"},
	}
	if allCPU > 0 {
		common = append(common, findings.Evidence{Name: "GC share of CPU", Value: gcCPU / allCPU, Unit: "fraction"})
	}
	var fs []Finding
	names := make([]string, 0, len(st.units))
	for n := range st.units {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		u := st.units[name]
		if u.gc.Count() < 20 || u.nogc.Count() < 20 {
			continue
		}
		pg, pn := u.gc.Quantile(0.99), u.nogc.Quantile(0.99)
		if pn <= 0 || pg < 2*pn {
			continue
		}
		ratio := float64(pg) / float64(pn)
		title := fmt.Sprintf("unit %s p99 is %.3gx higher in windows overlapping a GC cycle", name, ratio)
		if c := cadence(); c != "" {
			title += "; " + c
		}
		title += fmt.Sprintf("; %s live heap marked per cycle", findings.FormatBytes(float64(st.last.live)))
		ev := append([]findings.Evidence{
			{Name: "p99 in GC windows", Value: pg.Seconds(), Unit: "seconds"},
			{Name: "p99 in other windows", Value: pn.Seconds(), Unit: "seconds"},
			{Name: "ratio", Value: ratio, Unit: "ratio"},
			{Name: "runs in GC windows", Value: float64(u.gc.Count()), Unit: "count"},
		}, common...)
		advice := "shrink or restructure the pointer-heavy heap the collector marks each cycle (fewer pointers: indexes into slices, off-heap or arena storage), or raise GOGC / set GOMEMLIMIT so cycles run less often"
		if forced > 0 {
			advice = "find and remove the runtime.GC / debug.FreeOSMemory calls (forced cycles), then " + advice
		}
		fs = append(fs, Finding{
			Kind: findings.GC, Title: title, Unit: name, Evidence: ev, Advice: advice,
			// Delay attributed: the p99 excess, paid by ~1% of the runs in GC windows.
			Score: (pg - pn).Seconds() * float64(u.gc.Count()) / 100,
		})
	}
	if allCPU > 0 && gcCPU/allCPU >= 0.10 {
		title := fmt.Sprintf("the garbage collector used %.0f%% of the CPU", 100*gcCPU/allCPU)
		if c := cadence(); c != "" {
			title += "; " + c
		}
		fs = append(fs, Finding{
			Kind: findings.GC, Title: title, Evidence: common,
			Advice: "allocate less in hot paths (reuse buffers, sync.Pool), or raise GOGC / set GOMEMLIMIT",
			Score:  gcCPU, // CPU seconds the collector took
		})
	}
	return fs
}
