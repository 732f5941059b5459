package traceanalysis

import (
	"container/heap"
	"math/bits"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// gstate is everything kept per live goroutine: a few words, its region
// stack (capped) and at most one pending wait.
type gstate struct {
	state trace.GoState
	since trace.Time
	site  stackID // scheduling latency site: entry function + creator stack

	lat     *latAgg   // a.sites[latSite], cached
	latOff  *valueAgg // a.schedOff[{latSite, 0}], cached
	latSite stackID

	wait waitState // the wait in progress, when state is waiting or syscall
	pend pendWait  // a finished long idle-candidate wait awaiting its verdict
	work time.Duration

	loop         *gloop   // long running slices, credited when it ends
	unknownSince bool     // runnable when first mentioned: since when is unknown
	regions      []uint16 // unit indexes, innermost last
	assistStart  trace.Time
}

type waitState struct {
	spare      int64 // spareAt() when the wait began
	reason     uint8
	stack      stackID
	candidate  bool // idle if nothing comes of it (see the package doc)
	alwaysIdle bool // accept, runtime background workers, empty select
}

// stackInfo is what the analysis caches per interned stack.
type stackInfo struct {
	ok   bool
	raw  string    // the trace reason last seen waiting at this stack
	wait waitState // its classification
	offs []*offAgg
}

type offAgg struct {
	reason uint8
	idle   bool
	v      *valueAgg
	b      *blockAgg
}

// gloop accumulates one goroutine's long running slices until it ends.
type gloop struct {
	count int64
	total time.Duration
	max   time.Duration
	stack stackID // where the longest ended
	voted time.Duration
	votes []loopVote // user frames on preemption stacks, capped
}

type loopVote struct {
	f     frameID
	depth int // from the root
	w     time.Duration
}

const maxVotes = 32

// vote adds a preempted slice of length d that ended at stk.
func (l *gloop) vote(t *stackTable, stk stackID, d time.Duration) {
	l.voted += d
	fs := t.stacks[stk]
next:
	for i, f := range fs {
		if !t.frames[f].user {
			continue
		}
		for j := range l.votes {
			if l.votes[j].f == f {
				l.votes[j].w += d
				continue next
			}
		}
		if len(l.votes) < maxVotes {
			l.votes = append(l.votes, loopVote{f: f, depth: len(fs) - i, w: d})
		}
	}
}

type pendWait struct {
	ok     bool
	reason uint8
	stack  stackID
	dur    time.Duration
}

type offKey struct {
	stack  stackID
	reason uint8
	idle   bool
}

type valueAgg struct {
	count int64
	ns    int64
}

type blockKey struct {
	reason  uint8
	culprit frameID
	idle    bool
}

type blockAgg struct {
	count int64
	total time.Duration
	max   time.Duration
	stack stackID // the stack of the longest wait
	g     int64
}

type loopAgg struct {
	count int64
	total time.Duration
	max   time.Duration
	stack stackID
	g     int64
}

type schedKey struct {
	site stackID
	unit uint16
}

// latAgg is a latency aggregate with a log histogram: 4 buckets per power of
// two, so a percentile is within 19%; 1 KiB each.
type latAgg struct {
	count int64
	total time.Duration
	max   time.Duration
	hist  [256]uint32
}

func (l *latAgg) add(d time.Duration) {
	l.count++
	l.total += d
	l.max = max(l.max, d)
	l.hist[latBucket(d)]++
}

func latBucket(d time.Duration) int {
	v := uint64(max(d, 1))
	lg := 63 - bits.LeadingZeros64(v)
	sub := 0
	if lg >= 2 {
		sub = int(v>>(lg-2)) & 3
	}
	return min(lg*4+sub, 255)
}

// bucketUpper is the largest duration in bucket b.
func bucketUpper(b int) time.Duration {
	lg, sub := b/4, b%4
	if lg < 2 {
		return time.Duration(uint64(1)<<uint(lg+1) - 1)
	}
	base := uint64(1) << uint(lg)
	step := base / 4
	return time.Duration(base + step*uint64(sub+1) - 1)
}

func (l *latAgg) quantile(q float64) time.Duration {
	want := int64(float64(l.count)*q + 0.999999)
	var seen int64
	for b, n := range l.hist {
		seen += int64(n)
		if seen >= want && n > 0 {
			return min(bucketUpper(b), l.max)
		}
	}
	return l.max
}

type rawSlice struct {
	g      int64
	start  time.Duration // since the first trace's start
	dur    time.Duration
	stack  stackID
	reason string
}

type sliceHeap []rawSlice

func (h sliceHeap) Len() int           { return len(h) }
func (h sliceHeap) Less(i, j int) bool { return h[i].dur < h[j].dur }
func (h sliceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sliceHeap) Push(x any)        { *h = append(*h, x.(rawSlice)) }
func (h *sliceHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

const (
	maxUnits   = 1024
	maxRegions = 16
)

type analyzer struct {
	opt     Options
	stacks  *stackTable
	reasons *reasonTable

	events     int64 // all traces
	tevents    int64 // this trace
	tsyncs     int64 // this trace's sync events
	traces     int
	base       time.Duration // the durations of the traces before this one
	first      trace.Time
	last       trace.Time
	goroutines int
	gs         map[trace.GoID]*gstate
	lastID     [2]trace.GoID // a small cache in front of gs
	lastG      [2]*gstate

	off      map[offKey]*valueAgg
	blocks   map[blockKey]*blockAgg
	waits    []WaitTotal // index reason
	loops    map[frameID]*loopAgg
	slices   sliceHeap
	sites    map[stackID]*latAgg
	unitLat  map[uint16]*latAgg
	schedOff map[schedKey]*valueAgg
	siteMemo map[[2]stackID]stackID
	units    []string
	unitIdx  map[string]uint16
	cpu      map[stackID]int64
	cpuN     int64

	info      []stackInfo // index stackID
	gc        GCStats
	idleProcs int64      // Ps idle now
	spareSum  int64      // integral of idle Ps over time, in P-nanoseconds, up to spareTime
	spareTime trace.Time // when spareSum was last brought up to date
	markStart trace.Time
	stwStart  trace.Time
	assistBy  map[frameID]time.Duration
	forcedBy  map[frameID]int // caller of runtime.GC -> cycles it forced
	preTrace  frameID         // "[created before the trace]"
}

func newAnalyzer(opt Options) *analyzer {
	a := &analyzer{
		opt:      opt,
		stacks:   newStackTable(opt.MaxStacks, opt.MaxDepth),
		reasons:  newReasonTable(),
		gs:       make(map[trace.GoID]*gstate),
		off:      make(map[offKey]*valueAgg),
		blocks:   make(map[blockKey]*blockAgg),
		loops:    make(map[frameID]*loopAgg),
		sites:    make(map[stackID]*latAgg),
		unitLat:  make(map[uint16]*latAgg),
		schedOff: make(map[schedKey]*valueAgg),
		siteMemo: make(map[[2]stackID]stackID),
		units:    []string{""},
		unitIdx:  map[string]uint16{"": 0},
		cpu:      make(map[stackID]int64),
		assistBy: make(map[frameID]time.Duration),
		forcedBy: make(map[frameID]int),
	}
	a.preTrace = a.stacks.syntheticFrame("[created before the trace]")
	return a
}

func (a *analyzer) event(ev *trace.Event) {
	now := ev.Time()
	if a.tevents == 0 {
		a.first, a.last = now, now
	}
	a.events++
	a.tevents++
	if now > a.last {
		a.last = now
	}
	switch ev.Kind() {
	case trace.EventSync:
		a.tsyncs++
		a.stacks.newGeneration()
	case trace.EventStateTransition:
		st := ev.StateTransition()
		switch st.Resource.Kind {
		case trace.ResourceGoroutine:
			a.goTransition(ev, &st, now)
		case trace.ResourceProc:
			a.procTransition(&st, now)
		}
	case trace.EventStackSample:
		a.cpu[a.stacks.intern(ev.Stack())]++
		a.cpuN++
	case trace.EventRangeBegin, trace.EventRangeActive, trace.EventRangeEnd:
		a.rangeEvent(ev, now)
	case trace.EventRegionBegin, trace.EventRegionEnd:
		a.regionEvent(ev)
	}
}

func (a *analyzer) g(id trace.GoID) *gstate {
	// Consecutive events often concern the same goroutine (it blocks,
	// then the next one runs): a two-entry cache skips most map lookups.
	if a.lastG[0] != nil && a.lastID[0] == id {
		return a.lastG[0]
	}
	if a.lastG[1] != nil && a.lastID[1] == id {
		a.lastID[0], a.lastID[1] = a.lastID[1], a.lastID[0]
		a.lastG[0], a.lastG[1] = a.lastG[1], a.lastG[0]
		return a.lastG[0]
	}
	g := a.gsLookup(id)
	a.lastID[1], a.lastG[1] = a.lastID[0], a.lastG[0]
	a.lastID[0], a.lastG[0] = id, g
	return g
}

func (a *analyzer) gsLookup(id trace.GoID) *gstate {
	g := a.gs[id]
	if g == nil {
		g = &gstate{}
		a.gs[id] = g
		a.goroutines++
	}
	return g
}

func (a *analyzer) goTransition(ev *trace.Event, st *trace.StateTransition, now trace.Time) {
	id := st.Resource.Goroutine()
	from, to := st.Goroutine()
	g := a.g(id)
	if from == to {
		// A generation re-asserting a state we already track.
		if g.state == trace.GoUndetermined {
			stk := a.stacks.intern(st.Stack)
			if g.site == 0 && stk != 0 {
				g.site = a.preTraceSite(stk)
			}
			a.enter(g, id, trace.GoUndetermined, to, st, stk, now)
		}
		return
	}
	// Only transitions out of running (and creations) carry a stack worth
	// interning; skipping the rest keeps the hot path to a few map lookups.
	var stk stackID
	switch from {
	case trace.GoNotExist:
		stk = a.stacks.intern(st.Stack)
		if to == trace.GoRunnable {
			g.site = a.creationSite(stk, a.stacks.intern(ev.Stack()))
		}
	case trace.GoRunning:
		stk = a.stacks.intern(st.Stack)
		if to == trace.GoWaiting {
			g.wait = a.waitFor(st.Reason, stk)
		}
		if g.state == trace.GoRunning {
			a.slice(id, g, now, stk, to, st.Reason)
		}
		if to == trace.GoWaiting {
			a.resolvePending(id, g) // after the slice: its work counts
		}
	case trace.GoRunnable:
		if to == trace.GoRunning && g.state == trace.GoRunnable && !g.unknownSince {
			a.sched(g, time.Duration(now-g.since))
		}
	case trace.GoWaiting, trace.GoSyscall:
		if g.state == from {
			a.waitEnded(id, g, time.Duration(now-g.since))
		}
	default:
		stk = a.stacks.intern(st.Stack)
	}
	if g.site == 0 && stk != 0 {
		g.site = a.preTraceSite(stk)
	}
	a.enter(g, id, from, to, st, stk, now)
}

// waitFor returns the wait state for a goroutine that starts waiting with the
// trace's reason raw at stack stk. Stacks nearly always wait for the same
// reason, so the classification is cached per stack.
func (a *analyzer) waitFor(raw string, stk stackID) waitState {
	if int(stk) < len(a.info) {
		if in := &a.info[stk]; in.ok && in.raw == raw {
			return in.wait
		}
	}
	w := a.waitState(a.classify(raw, stk), stk)
	for int(stk) >= len(a.info) {
		a.info = append(a.info, stackInfo{})
	}
	a.info[stk].ok, a.info[stk].raw, a.info[stk].wait = true, raw, w
	return w
}

// enter puts g into state to.
//
// A goroutine's first mention in a trace (from the undetermined state) is a
// status event, which the runtime writes lazily, when the goroutine is first
// involved in an event, long after the trace began. A goroutine first seen
// waiting (or in a syscall) has been so since the trace began: getting there
// during the trace would have taken events that mention it. Its wait is
// counted from the trace's start.
func (a *analyzer) enter(g *gstate, id trace.GoID, from, to trace.GoState, st *trace.StateTransition, stk stackID, now trace.Time) {
	since := now
	g.unknownSince = false
	if from == trace.GoUndetermined {
		switch to {
		case trace.GoWaiting, trace.GoSyscall:
			// To start waiting during the trace it would have had to
			// run, which the trace would show.
			since = a.first
		case trace.GoRunnable:
			// Runnable since some time before it was mentioned (often
			// just before it runs): its scheduling latency is unknown.
			g.unknownSince = true
		}
	}
	switch to {
	case trace.GoWaiting:
		if g.state != trace.GoRunning {
			// Waiting when the trace began (the usual path sets the
			// wait in goTransition).
			a.resolvePending(id, g)
			g.wait = a.waitFor(st.Reason, stk)
		}
		g.wait.spare = a.spareAt(now)
		if since == a.first {
			g.wait.spare = 0 // the idle-P integral is 0 at the trace's start
		}
	case trace.GoSyscall:
		g.wait = waitState{reason: a.reasons.id(reasonSyscall), stack: stk}
	case trace.GoNotExist:
		// A goroutine that waited and then finished was waiting for an
		// outcome, not for work: its pending wait is not idle.
		if g.pend.ok {
			a.addWait(id, g.pend.reason, g.pend.stack, g.pend.dur, false)
		}
		a.flushLoop(id, g)
		delete(a.gs, id)
		a.forget()
		return
	}
	g.state = to
	g.since = since
}

func (a *analyzer) endReason(g *gstate, to trace.GoState, raw string) string {
	switch to {
	case trace.GoRunnable:
		if raw == "" {
			return "stopped"
		}
		return raw
	case trace.GoWaiting:
		return a.reasons.names[g.wait.reason]
	case trace.GoSyscall:
		return reasonSyscall
	case trace.GoNotExist:
		return "exit"
	case trace.GoUndetermined:
		return raw // "trace end"
	}
	return to.String()
}

// waitState decides, when a wait begins, whether it may be idle.
func (a *analyzer) waitState(r uint8, stk stackID) waitState {
	w := waitState{reason: r, stack: stk}
	switch a.reasons.names[r] {
	case reasonIO:
		// Stacks recorded at a generation's start may begin at
		// internal/poll.(*FD).Read rather than in the runtime.
		if a.stacks.hasFuncPrefix(stk, "internal/poll.(*FD).Accept") {
			w.alwaysIdle = true
		} else if a.stacks.hasFuncPrefix(stk, "internal/poll.(*pollDesc).waitRead") ||
			a.stacks.hasFuncPrefix(stk, "internal/poll.(*FD).Read") ||
			a.stacks.hasFuncPrefix(stk, "internal/poll.(*FD).RawRead") {
			w.candidate = true
		}
	case reasonUnknown:
		// Already waiting when the trace began, with no stack: we know
		// neither why nor where, so only the evidence of the trace
		// (it never woke, or woke and did nothing) can call it idle.
		w.candidate = stk == 0
	case reasonChanRecv, reasonSelect, reasonCond:
		w.candidate = true
	case reasonForever, reasonSystem, reasonGCSweep, reasonGCWeak:
		w.alwaysIdle = true
	}
	return w
}

// forget empties the cache in front of a.gs.
func (a *analyzer) forget() { a.lastG = [2]*gstate{} }

// procTransition keeps the count of idle Ps and its integral over time, so
// the average number of idle Ps during any wait costs two subtractions.
func (a *analyzer) procTransition(st *trace.StateTransition, now trace.Time) {
	from, to := st.Proc()
	if from == to {
		return // a generation re-asserting a state we already track
	}
	a.spareAt(now)
	if from == trace.ProcIdle {
		a.idleProcs = max(a.idleProcs-1, 0)
	}
	if to == trace.ProcIdle {
		a.idleProcs++
	}
}

// spareAt brings the idle-P integral up to now and returns it.
func (a *analyzer) spareAt(now trace.Time) int64 {
	if a.spareTime != 0 && now > a.spareTime {
		a.spareSum += a.idleProcs * int64(now-a.spareTime)
	}
	if now > a.spareTime {
		a.spareTime = now
	}
	return a.spareSum
}

// slice closes g's running slice at now; to and raw say why it ended.
func (a *analyzer) slice(id trace.GoID, g *gstate, now trace.Time, stk stackID, to trace.GoState, raw string) {
	d := time.Duration(now - g.since)
	g.work += d
	if d >= a.opt.LongSlice && stk != 0 {
		if g.loop == nil {
			g.loop = &gloop{}
		}
		l := g.loop
		l.count++
		l.total += d
		if d > l.max {
			l.max, l.stack = d, stk
		}
		if to == trace.GoRunnable { // preempted or yielded: the loop was in progress
			l.vote(a.stacks, stk, d)
		}
	}
	if len(a.slices) == a.opt.TopSlices && d <= a.slices[0].dur {
		return
	}
	s := rawSlice{g: int64(id), start: a.base + time.Duration(g.since-a.first), dur: d, stack: stk, reason: a.endReason(g, to, raw)}
	if len(a.slices) == a.opt.TopSlices {
		a.slices[0] = s
		heap.Fix(&a.slices, 0)
		return
	}
	heap.Push(&a.slices, s)
}

// flushLoop credits a goroutine's long running slices to the function that
// looped: the deepest user-code frame on the stacks of at least half (by
// time) of the slices that ended in preemption, or where its longest slice
// ended if none did. A majority, not all: the trace unwinds stacks by frame
// pointers, which loses the caller of a frameless leaf function, so a few
// preemption stacks miss the loop's frame.
func (a *analyzer) flushLoop(id trace.GoID, g *gstate) {
	l := g.loop
	if l == nil {
		return
	}
	g.loop = nil
	var culprit frameID
	best := -1
	for _, v := range l.votes {
		if 2*v.w >= l.voted && v.depth > best {
			culprit, best = v.f, v.depth
		}
	}
	if culprit == 0 {
		culprit = a.stacks.userTop[l.stack]
	}
	if !a.stacks.frames[culprit].user {
		return // the runtime's own workers (GC marking) are the GC's business
	}
	agg := a.loops[culprit]
	if agg == nil {
		agg = &loopAgg{}
		a.loops[culprit] = agg
	}
	agg.count += l.count
	agg.total += l.total
	if l.max > agg.max {
		agg.max, agg.stack, agg.g = l.max, l.stack, int64(id)
	}
}

// waitEnded closes g's wait (or syscall) that lasted d.
func (a *analyzer) waitEnded(id trace.GoID, g *gstate, d time.Duration) {
	w := g.wait
	// Idle needs spare capacity: on average at least half a P idle while it
	// waited. A goroutine that waited while every P was busy may have waited
	// for a producer that could not run, not for the absence of work.
	spare := a.spareAt(g.since+trace.Time(d)) - w.spare
	if w.candidate && d >= a.opt.IdleMinWait && 2*spare >= int64(d) {
		a.resolvePending(id, g)
		g.pend = pendWait{ok: true, reason: w.reason, stack: w.stack, dur: d}
		g.work = 0
		return
	}
	a.addWait(id, w.reason, w.stack, d, w.alwaysIdle)
}

// resolvePending decides a pending wait when g waits again (or exits): it
// was idle if g did almost no work after it.
func (a *analyzer) resolvePending(id trace.GoID, g *gstate) {
	if !g.pend.ok {
		return
	}
	p := g.pend
	g.pend = pendWait{}
	a.addWait(id, p.reason, p.stack, p.dur, g.work <= a.opt.IdleMaxWork)
}

func (a *analyzer) addWait(id trace.GoID, r uint8, stk stackID, d time.Duration, idle bool) {
	for int(r) >= len(a.waits) {
		a.waits = append(a.waits, WaitTotal{Reason: a.reasons.names[len(a.waits)]})
	}
	w := &a.waits[r]
	w.Count++
	w.Total += d
	w.Max = max(w.Max, d)
	if idle {
		w.IdleCount++
		w.IdleTotal += d
	}
	e := a.offEntry(stk, r, idle)
	e.v.count++
	e.v.ns += int64(d)
	b := e.b
	b.count++
	b.total += d
	if d > b.max || b.stack == 0 {
		b.max, b.stack, b.g = max(d, b.max), stk, int64(id)
	}
}

// offEntry finds the aggregates of waits at stk for reason r: a short list
// per stack (a stack waits for one or two reasons) instead of two hash lookups
// per wait.
func (a *analyzer) offEntry(stk stackID, r uint8, idle bool) *offAgg {
	in := a.offInfo(stk)
	for _, e := range in.offs {
		if e.reason == r && e.idle == idle {
			return e
		}
	}
	k := offKey{stack: stk, reason: r, idle: idle}
	v := &valueAgg{}
	a.off[k] = v
	bk := blockKey{reason: r, culprit: a.stacks.userTop[stk], idle: idle}
	b := a.blocks[bk]
	if b == nil {
		b = &blockAgg{}
		a.blocks[bk] = b
	}
	e := &offAgg{reason: r, idle: idle, v: v, b: b}
	if len(in.offs) < 16 {
		in.offs = append(in.offs, e)
	}
	return e
}

func (a *analyzer) offInfo(stk stackID) *stackInfo {
	for int(stk) >= len(a.info) {
		a.info = append(a.info, stackInfo{})
	}
	return &a.info[stk]
}

func (a *analyzer) sched(g *gstate, d time.Duration) {
	unit := uint16(0)
	if n := len(g.regions); n > 0 {
		unit = g.regions[n-1]
	}
	if g.lat == nil || g.latSite != g.site {
		// Cache the site's aggregates on the goroutine: one map lookup
		// per goroutine instead of two per scheduling.
		g.lat = a.sites[g.site]
		if g.lat == nil {
			g.lat = &latAgg{}
			a.sites[g.site] = g.lat
		}
		g.latOff = a.schedValue(schedKey{site: g.site})
		g.latSite = g.site
	}
	g.lat.add(d)
	v := g.latOff
	if unit != 0 {
		u := a.unitLat[unit]
		if u == nil {
			u = &latAgg{}
			a.unitLat[unit] = u
		}
		u.add(d)
		v = a.schedValue(schedKey{site: g.site, unit: unit})
	}
	v.count++
	v.ns += int64(d)
}

func (a *analyzer) schedValue(k schedKey) *valueAgg {
	v := a.schedOff[k]
	if v == nil {
		v = &valueAgg{}
		a.schedOff[k] = v
	}
	return v
}

// creationSite is the scheduling-latency stack of a goroutine: its entry
// function as the leaf ("go pkg.worker"), above the stack that created it.
func (a *analyzer) creationSite(start, creator stackID) stackID {
	key := [2]stackID{start, creator}
	if s, ok := a.siteMemo[key]; ok {
		return s
	}
	ids := make([]frameID, 0, 1+len(a.stacks.stacks[creator]))
	if start != 0 {
		e := a.stacks.frames[a.stacks.stacks[start][0]]
		ids = append(ids, a.stacks.frame(frameKey{fn: "go " + e.fn, file: e.file, line: e.line}))
	}
	ids = append(ids, a.stacks.stacks[creator]...)
	s := a.stacks.internIDs(ids)
	if len(a.siteMemo) < a.opt.MaxStacks {
		a.siteMemo[key] = s
	}
	return s
}

// preTraceSite names goroutines created before the trace started by the
// outermost function of the first stack seen for them.
func (a *analyzer) preTraceSite(stk stackID) stackID {
	key := [2]stackID{stk, 0}
	if s, ok := a.siteMemo[key]; ok {
		return s
	}
	fs := a.stacks.stacks[stk]
	entry := fs[len(fs)-1]
	for i := len(fs) - 1; i >= 0; i-- {
		if fn := a.stacks.frames[fs[i]].fn; fn != "runtime.goexit" {
			entry = fs[i]
			break
		}
	}
	e := a.stacks.frames[entry]
	ids := []frameID{a.stacks.frame(frameKey{fn: "go " + e.fn, file: e.file, line: e.line}), a.preTrace}
	s := a.stacks.internIDs(ids)
	if len(a.siteMemo) < a.opt.MaxStacks {
		a.siteMemo[key] = s
	}
	return s
}

func (a *analyzer) regionEvent(ev *trace.Event) {
	id := ev.Goroutine()
	if id == trace.NoGoroutine {
		return
	}
	g := a.gs[id]
	if g == nil {
		return
	}
	typ := ev.Region().Type
	if ev.Kind() == trace.EventRegionBegin {
		if len(g.regions) < maxRegions {
			g.regions = append(g.regions, a.unit(typ))
		}
		return
	}
	if n := len(g.regions); n > 0 {
		g.regions = g.regions[:n-1]
	}
}

func (a *analyzer) unit(name string) uint16 {
	if i, ok := a.unitIdx[name]; ok {
		return i
	}
	if len(a.units) >= maxUnits {
		return 0
	}
	i := uint16(len(a.units))
	a.units = append(a.units, name)
	a.unitIdx[name] = i
	return i
}

func (a *analyzer) rangeEvent(ev *trace.Event, now trace.Time) {
	r := ev.Range()
	kind := ev.Kind()
	switch {
	case r.Name == "GC concurrent mark phase":
		switch kind {
		case trace.EventRangeBegin:
			a.gc.Cycles++
			a.markStart = now
			// The cycle's stack is the goroutine that started it: an
			// allocation (automatic) or a call to runtime.GC (forced),
			// whose caller is the first user frame from the leaf.
			if stk := a.stacks.intern(ev.Stack()); stk != 0 && a.stacks.forcesGC(stk) {
				a.gc.Forced++
				if f := a.stacks.userTop[stk]; len(a.forcedBy) < maxForcers || a.forcedBy[f] > 0 {
					a.forcedBy[f]++
				}
			}
		case trace.EventRangeActive:
			a.markStart = now
		case trace.EventRangeEnd:
			if a.markStart != 0 {
				a.gc.MarkTotal += time.Duration(now - a.markStart)
				a.markStart = 0
			}
		}
	case strings.HasPrefix(r.Name, "stop-the-world ("):
		switch kind {
		case trace.EventRangeBegin, trace.EventRangeActive:
			a.stwStart = now
		case trace.EventRangeEnd:
			if a.stwStart == 0 {
				return
			}
			d := time.Duration(now - a.stwStart)
			a.gc.STWCount++
			a.gc.STWTotal += d
			a.gc.STWMax = max(a.gc.STWMax, d)
			if len(a.gc.Windows) < maxWindows {
				reason := strings.TrimSuffix(strings.TrimPrefix(r.Name, "stop-the-world ("), ")")
				a.gc.Windows = append(a.gc.Windows, STWWindow{Start: a.base + time.Duration(a.stwStart-a.first), Duration: d, Reason: reason})
			}
			a.stwStart = 0
		}
	case r.Name == "GC mark assist":
		if r.Scope.Kind != trace.ResourceGoroutine {
			return
		}
		g := a.gs[r.Scope.Goroutine()]
		if g == nil {
			return
		}
		switch kind {
		case trace.EventRangeBegin, trace.EventRangeActive:
			g.assistStart = now
		case trace.EventRangeEnd:
			if g.assistStart == 0 {
				return
			}
			d := time.Duration(now - g.assistStart)
			g.assistStart = 0
			a.gc.AssistTotal += d
			if stk := a.stacks.intern(ev.Stack()); stk != 0 {
				a.assistBy[a.stacks.userTop[stk]] += d
			}
		}
	}
}
