package traceanalysis

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
	"golang.org/x/exp/trace"
)

// endTrace closes what is still open at the end of one trace and forgets
// the per-goroutine state, which does not carry to the next trace.
func (a *analyzer) endTrace() {
	end := a.last
	ids := make([]trace.GoID, 0, len(a.gs))
	for id := range a.gs {
		ids = append(ids, id)
	}
	slices.Sort(ids) // deterministic output
	for _, id := range ids {
		g := a.gs[id]
		// Woken and not waiting again by the end (a waiting goroutine's
		// pending wait was decided when it blocked): whether work followed
		// is unknown, so the wait is not called idle.
		if g.pend.ok {
			a.addWait(id, g.pend.reason, g.pend.stack, g.pend.dur, false)
			g.pend = pendWait{}
		}
		switch g.state {
		case trace.GoRunning:
			a.slice(id, g, end, 0, trace.GoUndetermined, "trace end")
		case trace.GoWaiting, trace.GoSyscall:
			// Still waiting at the end: nothing came for it during the
			// trace, so a candidate wait is idle.
			w := g.wait
			a.addWait(id, w.reason, w.stack, time.Duration(end-g.since), w.alwaysIdle || w.candidate)
		}
		a.flushLoop(id, g)
	}
	a.base += time.Duration(a.last - a.first)
	a.traces++
	a.resetTrace()
}

// resetTrace forgets a failed trace's goroutines so that the next trace
// starts clean. Aggregates it already added stay.
func (a *analyzer) resetTrace() {
	clear(a.gs)
	a.forget()
	a.stacks.newGeneration()
	a.tevents, a.tsyncs = 0, 0
	a.idleProcs, a.spareSum, a.spareTime = 0, 0, 0
	a.markStart, a.stwStart = 0, 0
}

// finish builds the result of all traces.
func (a *analyzer) finish() *Result {
	dur := a.base
	r := &Result{
		Duration:   dur,
		Events:     a.events,
		Goroutines: a.goroutines,
		GC:         a.gc,
		CPUSamples: a.cpuN,
	}
	r.Slices = a.resultSlices()
	for _, w := range a.waits {
		if w.Count > 0 {
			r.Waits = append(r.Waits, w)
		}
	}
	slices.SortStableFunc(r.Waits, func(x, y WaitTotal) int { return cmp.Compare(y.Total, x.Total) })
	r.Sched = a.schedTotals()
	r.Units = a.unitTotals()
	r.OffCPU = a.offCPUProfile(dur)
	r.SchedLatency = a.schedProfile(dur)
	r.OnCPU = a.onCPUProfile(dur)
	r.Findings = a.findings(dur)
	findings.Rank(r.Findings)
	return r
}

func (a *analyzer) resultSlices() []Slice {
	raw := slices.Clone(a.slices)
	slices.SortStableFunc(raw, func(x, y rawSlice) int {
		if c := cmp.Compare(y.dur, x.dur); c != 0 {
			return c
		}
		return cmp.Compare(x.g, y.g)
	})
	out := make([]Slice, 0, len(raw))
	for _, s := range raw {
		sl := Slice{
			Goroutine: s.g,
			Start:     s.start,
			Duration:  s.dur,
			EndReason: s.reason,
		}
		if s.stack != 0 {
			sl.Culprit = a.stacks.inspectFrame(a.stacks.userTop[s.stack])
			sl.Stack = a.stacks.inspectStack(s.stack, 32)
		}
		out = append(out, sl)
	}
	return out
}

func (a *analyzer) siteName(site stackID) string {
	if site == 0 {
		return "unknown creation site"
	}
	fs := a.stacks.stacks[site]
	entry := a.stacks.frames[fs[0]].fn
	if len(fs) == 1 {
		return entry
	}
	at := fs[1]
	for _, f := range fs[1:] {
		if a.stacks.frames[f].user {
			at = f
			break
		}
	}
	return entry + " created at " + a.stacks.inspectFrame(at).String()
}

func toTotal(name string, l *latAgg) SchedTotal {
	return SchedTotal{Name: name, Count: l.count, Total: l.total, Max: l.max, P99: l.quantile(0.99)}
}

func sortTotals(ts []SchedTotal) {
	slices.SortStableFunc(ts, func(x, y SchedTotal) int {
		if c := cmp.Compare(y.Total, x.Total); c != 0 {
			return c
		}
		return strings.Compare(x.Name, y.Name)
	})
}

func (a *analyzer) schedTotals() []SchedTotal {
	out := make([]SchedTotal, 0, len(a.sites))
	for site, l := range a.sites {
		out = append(out, toTotal(a.siteName(site), l))
	}
	sortTotals(out)
	return out
}

func (a *analyzer) unitTotals() []SchedTotal {
	out := make([]SchedTotal, 0, len(a.unitLat))
	for u, l := range a.unitLat {
		out = append(out, toTotal(a.units[u], l))
	}
	sortTotals(out)
	return out
}

// pbuilder turns interned stacks into pprof locations and functions.
type pbuilder struct {
	t     *stackTable
	p     *profile.Profile
	locs  map[frameID]*profile.Location
	funcs map[[2]string]*profile.Function
}

func newPBuilder(t *stackTable, dur time.Duration, types ...*profile.ValueType) *pbuilder {
	return &pbuilder{
		t: t,
		p: &profile.Profile{
			SampleType:        types,
			DefaultSampleType: types[len(types)-1].Type,
			PeriodType:        types[len(types)-1],
			Period:            1,
			DurationNanos:     int64(dur),
		},
		locs:  make(map[frameID]*profile.Location),
		funcs: make(map[[2]string]*profile.Function),
	}
}

func (b *pbuilder) loc(f frameID) *profile.Location {
	if l := b.locs[f]; l != nil {
		return l
	}
	fi := b.t.frames[f]
	fk := [2]string{fi.fn, fi.file}
	fn := b.funcs[fk]
	if fn == nil {
		fn = &profile.Function{ID: uint64(len(b.p.Function) + 1), Name: fi.fn, SystemName: fi.fn, Filename: fi.file}
		b.funcs[fk] = fn
		b.p.Function = append(b.p.Function, fn)
	}
	l := &profile.Location{ID: uint64(len(b.p.Location) + 1), Address: fi.pc, Line: []profile.Line{{Function: fn, Line: int64(fi.line)}}}
	b.locs[f] = l
	b.p.Location = append(b.p.Location, l)
	return l
}

// sample adds a sample whose stack is s (leaf first) followed by the extra
// frames (towards the root).
func (b *pbuilder) sample(s stackID, extra []frameID, labels map[string][]string, values ...int64) {
	ids := b.t.stacks[s]
	locs := make([]*profile.Location, 0, len(ids)+len(extra))
	for _, f := range ids {
		locs = append(locs, b.loc(f))
	}
	for _, f := range extra {
		locs = append(locs, b.loc(f))
	}
	b.p.Sample = append(b.p.Sample, &profile.Sample{Location: locs, Value: values, Label: labels})
}

// offCPUProfile: every wait as a sample of off-CPU nanoseconds. The wait
// reason is the ROOT frame ("[chan receive]"), so a flame graph first splits
// by why goroutines waited, then shows where; a reason's total is one box.
// Labels: reason (the runtime's words) and idle ("true"/"false").
func (a *analyzer) offCPUProfile(dur time.Duration) *profile.Profile {
	b := newPBuilder(a.stacks, dur, &profile.ValueType{Type: "waits", Unit: "count"}, &profile.ValueType{Type: "off-cpu", Unit: "nanoseconds"})
	keys := make([]offKey, 0, len(a.off))
	for k := range a.off {
		if k.idle && a.opt.DropIdle {
			continue
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y offKey) int {
		if c := cmp.Compare(x.stack, y.stack); c != 0 {
			return c
		}
		if c := cmp.Compare(x.reason, y.reason); c != 0 {
			return c
		}
		return cmp.Compare(btoi(x.idle), btoi(y.idle))
	})
	for _, k := range keys {
		v := a.off[k]
		name := a.reasons.names[k.reason]
		rf := a.stacks.syntheticFrame("[" + name + "]")
		b.sample(k.stack, []frameID{rf}, map[string][]string{"reason": {name}, "idle": {fmt.Sprint(k.idle)}}, v.count, v.ns)
	}
	return b.p
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// schedProfile: scheduling latency (runnable until running) per goroutine
// creation site; the leaf is the goroutine's entry ("go pkg.worker"), below it
// the stack that created it. The unit label names the trace region (inspect
// unit) the goroutine was in, when any.
func (a *analyzer) schedProfile(dur time.Duration) *profile.Profile {
	b := newPBuilder(a.stacks, dur, &profile.ValueType{Type: "delays", Unit: "count"}, &profile.ValueType{Type: "sched-latency", Unit: "nanoseconds"})
	keys := make([]schedKey, 0, len(a.schedOff))
	for k := range a.schedOff {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y schedKey) int {
		if c := cmp.Compare(x.site, y.site); c != 0 {
			return c
		}
		return cmp.Compare(x.unit, y.unit)
	})
	unknown := a.stacks.syntheticFrame("[unknown creation site]")
	for _, k := range keys {
		v := a.schedOff[k]
		var labels map[string][]string
		if k.unit != 0 {
			labels = map[string][]string{"unit": {a.units[k.unit]}}
		}
		var extra []frameID
		if k.site == 0 {
			extra = []frameID{unknown}
		}
		b.sample(k.site, extra, labels, v.count, v.ns)
	}
	return b.p
}

// cpuSamplePeriod is runtime/pprof's fixed CPU sampling period (100 Hz). A
// program that changed it with runtime.SetCPUProfileRate gets wrong
// nanoseconds here; the sample counts stay right.
const cpuSamplePeriod = 10 * time.Millisecond

// onCPUProfile: the trace's CPU profile samples, which exist only when a CPU
// profile ran while tracing.
func (a *analyzer) onCPUProfile(dur time.Duration) *profile.Profile {
	b := newPBuilder(a.stacks, dur, &profile.ValueType{Type: "samples", Unit: "count"}, &profile.ValueType{Type: "cpu", Unit: "nanoseconds"})
	b.p.Period = int64(cpuSamplePeriod)
	keys := make([]stackID, 0, len(a.cpu))
	for k := range a.cpu {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	unknown := a.stacks.syntheticFrame("[no stack]")
	for _, k := range keys {
		n := a.cpu[k]
		var extra []frameID
		if k == 0 {
			extra = []frameID{unknown}
		}
		b.sample(k, extra, nil, n, n*int64(cpuSamplePeriod))
	}
	return b.p
}

func evSeconds(name string, d time.Duration) findings.Evidence {
	return findings.Evidence{Name: name, Value: d.Seconds(), Unit: "seconds", Text: findings.FormatDuration(d)}
}

func evCount(name string, n int64) findings.Evidence {
	return findings.Evidence{Name: name, Value: float64(n), Unit: "count"}
}

func evFraction(name string, f float64) findings.Evidence {
	return findings.Evidence{Name: name, Value: f, Unit: "fraction"}
}

// findings builds the findings. Scores are "goroutine-seconds lost per second
// of trace", weighted by how much a problem hurts others:
//   - cpu-bound loop: time in slices >= LongSlice / trace duration x 10, since a
//     goroutine that does not yield delays every goroutine queued behind it;
//   - blocked (chan, mutex, IO, syscall, sleep): total wait / trace duration,
//     the average number of goroutines waiting there;
//   - scheduling latency: total latency at the site / trace duration;
//   - GC: (stop-the-world time x GOMAXPROCS-independent 10 + assist time) /
//     trace duration;
//   - idle: the idle wait / trace duration x 0.01, listed but ranked last.
func (a *analyzer) findings(dur time.Duration) []findings.Finding {
	per := max(dur.Seconds(), 1e-9)
	var out []findings.Finding

	// CPU-bound loops.
	loopKeys := make([]frameID, 0, len(a.loops))
	for k := range a.loops {
		loopKeys = append(loopKeys, k)
	}
	slices.SortFunc(loopKeys, func(x, y frameID) int {
		if c := cmp.Compare(a.loops[y].total, a.loops[x].total); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
	for i, k := range loopKeys {
		if i == a.opt.MaxFindings {
			break
		}
		l := a.loops[k]
		c := a.stacks.inspectFrame(k)
		out = append(out, findings.Finding{
			Kind:      findings.CPUBoundLoop,
			Title:     fmt.Sprintf("%s ran %s without yielding", shortFunc(c.Function), findings.FormatDuration(l.max)),
			Culprit:   c,
			Stack:     a.stacks.inspectStack(l.stack, 16),
			Goroutine: l.g,
			Evidence: []findings.Evidence{
				evSeconds("max running slice", l.max),
				evCount(fmt.Sprintf("slices over %s", findings.FormatDuration(a.opt.LongSlice)), l.count),
				evSeconds("total in those slices", l.total),
				evFraction("share of trace", l.total.Seconds()/per),
			},
			Advice: "this code held a P without blocking; goroutines queued on that P waited behind it. " +
				"Split the work into bounded chunks and yield between them (runtime.Gosched, or inspect's Budget), " +
				"or run it on fewer goroutines than GOMAXPROCS",
			Score: l.total.Seconds() / per * 10,
		})
	}

	// Blocking, by reason and culprit.
	type bk struct {
		k blockKey
		b *blockAgg
	}
	var bs []bk
	for k, b := range a.blocks {
		if k.idle && a.opt.DropIdle {
			continue
		}
		bs = append(bs, bk{k, b})
	}
	slices.SortFunc(bs, func(x, y bk) int {
		if c := cmp.Compare(y.b.total, x.b.total); c != 0 {
			return c
		}
		if c := cmp.Compare(x.k.reason, y.k.reason); c != 0 {
			return c
		}
		if c := cmp.Compare(x.k.culprit, y.k.culprit); c != 0 {
			return c
		}
		return cmp.Compare(btoi(x.k.idle), btoi(y.k.idle))
	})
	perKind := map[findings.Kind]int{}
	for _, e := range bs {
		if e.b.total < a.opt.LongSlice {
			continue
		}
		reason := a.reasons.names[e.k.reason]
		if isRuntimeFunc(a.stacks.frames[e.k.culprit].fn) {
			continue // the runtime's own goroutines, or no stack: profile only
		}
		kind, ok := kindOf(reason)
		if !ok && !e.k.idle {
			continue
		}
		if e.k.idle {
			kind = findings.Idle
		}
		if kind == "" {
			continue
		}
		if perKind[kind] == a.opt.MaxFindings {
			continue
		}
		perKind[kind]++
		c := a.stacks.inspectFrame(e.k.culprit)
		f := findings.Finding{
			Kind:      kind,
			Title:     fmt.Sprintf("%s waited %s in total on %s", shortFunc(c.Function), findings.FormatDuration(e.b.total), reason),
			Culprit:   c,
			Stack:     a.stacks.inspectStack(e.b.stack, 16),
			Goroutine: e.b.g,
			Evidence: []findings.Evidence{
				evSeconds("total wait", e.b.total),
				evCount("waits", e.b.count),
				evSeconds("longest wait", e.b.max),
				{Name: "goroutines waiting on average", Value: e.b.total.Seconds() / per, Unit: "count", Text: fmt.Sprintf("%.2f", e.b.total.Seconds()/per)},
			},
			Advice: advice(kind, reason),
			Score:  e.b.total.Seconds() / per,
		}
		if e.k.idle {
			f.Title = fmt.Sprintf("%s idle %s in total (%s, no work followed)", shortFunc(c.Function), findings.FormatDuration(e.b.total), reason)
			f.Score *= 0.01
		}
		out = append(out, f)
	}

	// Scheduling latency per creation site.
	type sk struct {
		site stackID
		l    *latAgg
	}
	var ss []sk
	for s, l := range a.sites {
		if l.max >= a.opt.LongSlice {
			ss = append(ss, sk{s, l})
		}
	}
	slices.SortFunc(ss, func(x, y sk) int {
		if c := cmp.Compare(y.l.total, x.l.total); c != 0 {
			return c
		}
		return cmp.Compare(x.site, y.site)
	})
	for i, e := range ss {
		if i == a.opt.MaxFindings {
			break
		}
		// The culprit names the victims' entry function (the hogs are the
		// cpu-bound loop findings); the stack is where they were created.
		c := inspect.Frame{Function: "[unknown creation site]"}
		var stack []inspect.Frame
		title := "goroutines of unknown origin"
		if e.site != 0 {
			fs := a.stacks.stacks[e.site]
			entry := a.stacks.inspectFrame(fs[0])
			entry.Function = strings.TrimPrefix(entry.Function, "go ")
			c = entry
			stack = a.stacks.inspectStack(e.site, 16)[1:]
			title = "goroutines running " + shortFunc(entry.Function)
			for _, f := range fs[1:] {
				if fi := a.stacks.frames[f]; fi.user || f == a.preTrace {
					title += " (created in " + shortFunc(fi.fn)
					if fi.file != "" {
						title += fmt.Sprintf(" at %s:%d", filepath.Base(fi.file), fi.line)
					}
					title += ")"
					break
				}
			}
		}
		out = append(out, findings.Finding{
			Kind:    findings.Starvation,
			Title:   fmt.Sprintf("%s waited up to %s for a P (p99 %s)", title, findings.FormatDuration(e.l.max), findings.FormatDuration(e.l.quantile(0.99))),
			Culprit: c,
			Stack:   stack,
			Evidence: []findings.Evidence{
				evSeconds("max scheduling latency", e.l.max),
				evSeconds("p99 scheduling latency", e.l.quantile(0.99)),
				evCount("runs", e.l.count),
				evSeconds("total latency", e.l.total),
			},
			Advice: "runnable goroutines waited for a P: look at the cpu-bound loop findings for who held the Ps, " +
				"or raise GOMAXPROCS if the CPU quota allows",
			Score: e.l.total.Seconds() / per,
		})
	}

	// GC.
	gc := a.gc
	if gc.STWCount > 0 || gc.Cycles > 0 {
		share := (gc.STWTotal.Seconds() + gc.AssistTotal.Seconds()) / per
		if gc.STWMax >= time.Millisecond || share >= 0.01 || gc.Forced > 0 {
			f := findings.Finding{
				Kind:  findings.GC,
				Title: fmt.Sprintf("%d GC cycles, %d stop-the-world pauses, longest %s", gc.Cycles, gc.STWCount, findings.FormatDuration(gc.STWMax)),
				Evidence: []findings.Evidence{
					evCount("GC cycles", int64(gc.Cycles)),
					evCount("stop-the-world pauses", int64(gc.STWCount)),
					evSeconds("total pause", gc.STWTotal),
					evSeconds("longest pause", gc.STWMax),
					evSeconds("mark assist", gc.AssistTotal),
					evFraction("share of trace in pauses and assists", share),
				},
				Advice: "allocate less on the hot path (reuse buffers, sync.Pool), keep pointer-heavy data small, " +
					"set GOGC/GOMEMLIMIT for the heap you have, and never call runtime.GC() on a timer",
				Score: (gc.STWTotal.Seconds()*10 + gc.AssistTotal.Seconds()) / per,
			}
			top, forcer := heaviest(a.assistBy), heaviest(a.forcedBy)
			switch {
			case forcer != 0:
				// A forced cycle is a decision in the code, the most
				// direct thing to change: it is the culprit.
				f.Culprit = a.stacks.inspectFrame(forcer)
				name := shortFunc(f.Culprit.Function)
				f.Title = fmt.Sprintf("%d GC cycles, %d forced by runtime.GC in %s; %d stop-the-world pauses, longest %s",
					gc.Cycles, gc.Forced, name, gc.STWCount, findings.FormatDuration(gc.STWMax))
				f.Evidence = append(f.Evidence, evCount("forced cycles", int64(gc.Forced)), evCount("forced by culprit", int64(a.forcedBy[forcer])))
				f.Advice = "runtime.GC() in " + name + " forces a full cycle (two stop-the-world pauses and a mark of the whole heap, " +
					"which a big heap makes long): remove it and let GOGC/GOMEMLIMIT pace the collector; " + f.Advice
			case top != 0:
				f.Culprit = a.stacks.inspectFrame(top)
				f.Evidence = append(f.Evidence, evSeconds("mark assist in culprit", a.assistBy[top]))
			}
			out = append(out, f)
		}
	}
	return out
}

// heaviest returns the frame with the largest value in m (the smallest ID
// among equals, so the choice is deterministic), or 0 for an empty map.
func heaviest[V cmp.Ordered](m map[frameID]V) frameID {
	var top frameID
	for k, v := range m {
		if top == 0 || v > m[top] || (v == m[top] && k < top) {
			top = k
		}
	}
	return top
}

func advice(k findings.Kind, reason string) string {
	switch k {
	case findings.BlockedChan:
		return "goroutines waited here for the other side of a channel; if this is on a request path, the peer is the bottleneck: look at its on-CPU profile, add workers, or buffer bursts"
	case findings.BlockedMutex:
		if reason == reasonWaitGroup || reason == reasonCond {
			return "goroutines waited for others to finish; the slowest of them sets this wait"
		}
		return "contended lock: shorten the critical section, shard the data, or use a read-mostly structure; a mutex profile (runtime.SetMutexProfileFraction) names the holder"
	case findings.BlockedIO:
		return "waiting for a network peer: a client waiting on a backend inherits its latency; a server waiting for requests is idle"
	case findings.BlockedSyscall:
		return "blocking system calls hold an OS thread (the P is handed off after ~20µs): batch them, use non-blocking descriptors through the netpoller, or move them off the latency path"
	case findings.Sleep:
		return "sleeping in a loop adds fixed latency: wait on a channel, a timer or a condition instead of polling"
	case findings.GC:
		return "goroutines waited for the garbage collector: allocate less on the hot path"
	case findings.Idle:
		return "waiting with no work to do; not a cost. Leave it out of profiles with --no-idle (or pprof -tagignore idle=true)"
	}
	return ""
}

// shortFunc drops the import path: "github.com/x/y/pkg.(*T).M" -> "pkg.(*T).M".
func shortFunc(fn string) string {
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		return fn[i+1:]
	}
	return fn
}
