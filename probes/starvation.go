package probes

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
)

// The starvation detector has two parts.
//
// The always-on signal is a sentinel goroutine that sleeps and measures when
// it actually wakes. The runtime runs expired timers only at scheduling
// points, so while every P runs a goroutine that does not yield, the
// sentinel's wake-up waits until sysmon preempts one of them (after 10-20 ms
// of running). Starvation is declared when the sentinel wakes at least
// StarvationThreshold - SentinelPeriod late (10 ms with the defaults): a
// scheduler with a free P, or whose goroutines yield, never makes a timer that
// late. The starvation reported is that lateness plus the period, i.e. how long
// the sentinel had gone without a chance to run when it had asked to.
//
// Why the period adapts: on an idle process every wake-up of a sleeping
// goroutine costs a thread wake-up from the kernel plus the scheduler's search
// for work, 100-300 µs of CPU measured on a virtualised 2-core machine (a bare
// `for { time.Sleep(10ms) }` costs ~1% of a core there). Starvation needs every
// P busy, so the sentinel reads /sched/goroutines/running and /runnable (an
// O(GOMAXPROCS) read, ~1 µs) at each wake-up and sleeps SentinelPeriod
// (10 ms) only while there are at least GOMAXPROCS goroutines running or
// runnable besides itself, or starvation was seen in the last second, and
// IdlePeriod (200 ms) otherwise; the GC probe's windows ride on the same
// wake-ups. A wake-up while busy is cheap (the P is awake; ~5 µs of work), so
// the cost stays around 0.1% of a core idle and busy alike (TestProbeCPUCost).
// The price: a hog that starts while the process is idle is seen at the first
// slow wake-up, up to 200 ms later, still well within the 1 s goal.
//
// Every 100 ms (and on every late wake-up) the detector also reads
// /sched/latencies:seconds, the runtime's own (sampled) histogram of how long
// runnable goroutines waited for a P. It is a witness, not a trigger: an
// overloaded machine makes goroutines wait for a P too (their thread is off
// the CPU), so on its own it would blame the process for the OS.
//
// The expensive part runs only once starvation is seen, at most once per
// DumpInterval: it takes StarvationSamples (4) goroutine dumps
// (runtime.Stack of all goroutines, which stops the world, into a buffer
// capped at MaxDumpBytes) a few milliseconds apart and names as hogs the
// goroutines that are on a CPU (running, or runnable without having parked or
// yielded) in every dump with a user-code function common to all their
// stacks: they held a P through the window.
//
// Two filters keep noise out. A late wake-up counts only if the thread that
// held the sentinel's timer was running through at least half of the
// lateness (Linux per-thread schedstat, read once per tick for ~4 µs): when the
// OS kept the process off the CPU (a loaded machine, a VM steal, SIGSTOP),
// nobody in it is to blame. And the starvation must have lasted through the
// dumps: the detector's own short sleeps between them must together have woken
// at least half the threshold late (again not by the OS's doing), or a busy
// goroutine that yields often, caught in every dump by an OS hiccup, would be
// blamed for being busy. An event without a named hog is emitted only when the
// runtime's histogram also saw goroutines wait past the threshold.

type starveDetector struct {
	p         *Probes
	threshold time.Duration
	period    time.Duration // fast period, at most threshold/2
	idle      time.Duration // slow period, while no P could be starved
	procs     int64
	gauges    []metrics.Sample // /sched/goroutines/running, /runnable
	gc        *gcProbe         // driven from the sentinel's wake-ups when both run
	interval  time.Duration    // min time between dump sessions
	samples   int
	sampleGap time.Duration
	maxDump   int

	buf []byte

	sched     []metrics.Sample // /sched/latencies, /sched/goroutines/runnable
	prevSched []uint64
	schedOK   bool

	lastDump time.Time
	// Starvation seen but not dumped (rate limit) since the last session:
	// folded into the next event.
	pendingMax   time.Duration
	pendingCount int
}

const (
	schedLatName      = "/sched/latencies:seconds"
	schedRunnableName = "/sched/goroutines/runnable:goroutines"
	schedRunningName  = "/sched/goroutines/running:goroutines"
	fastHold          = time.Second // stay at the fast period this long after starvation or a busy tick
	schedEvery        = 100 * time.Millisecond
	maxHogsPerEvent   = 8
	maxCulpritFrames  = 16
)

func newStarveDetector(p *Probes) *starveDetector {
	c := p.cfg
	d := &starveDetector{
		p:         p,
		threshold: c.StarvationThreshold,
		period:    min(c.SentinelPeriod, c.StarvationThreshold/2),
		idle:      max(c.IdlePeriod, min(c.SentinelPeriod, c.StarvationThreshold/2)),
		procs:     int64(runtime.GOMAXPROCS(0)),
		interval:  c.DumpInterval,
		samples:   c.StarvationSamples,
		sampleGap: max(2*time.Millisecond, c.StarvationThreshold/8),
		maxDump:   c.MaxDumpBytes,
	}
	if d.period <= 0 {
		d.period = time.Millisecond
	}
	d.sched = []metrics.Sample{{Name: schedLatName}, {Name: schedRunnableName}}
	d.schedOK = metricsSupported(schedLatName)
	if !metricsSupported(schedRunnableName) { // before Go 1.26
		d.sched = d.sched[:1]
	}
	if metricsSupported(schedRunnableName) && metricsSupported(schedRunningName) {
		d.gauges = []metrics.Sample{{Name: schedRunningName}, {Name: schedRunnableName}}
	}
	if d.schedOK {
		d.readSched() // baseline
	}
	return d
}

func metricsSupported(name string) bool {
	for _, d := range metrics.All() {
		if d.Name == name {
			return true
		}
	}
	return false
}

// readSched returns how many scheduling latencies at or past the threshold
// were recorded since the last call, and the largest bucket's lower bound.
func (d *starveDetector) readSched() (over int, worst time.Duration) {
	if !d.schedOK {
		return 0, 0
	}
	metrics.Read(d.sched)
	if d.sched[0].Value.Kind() != metrics.KindFloat64Histogram {
		d.schedOK = false
		return 0, 0
	}
	h := d.sched[0].Value.Float64Histogram()
	if len(d.prevSched) != len(h.Counts) {
		d.prevSched = append(d.prevSched[:0], h.Counts...)
		return 0, 0
	}
	thr := d.threshold.Seconds()
	for i, c := range h.Counts {
		delta := c - d.prevSched[i]
		d.prevSched[i] = c
		if delta == 0 || h.Buckets[i] < thr {
			continue
		}
		over += int(delta)
		if b := time.Duration(h.Buckets[i] * float64(time.Second)); b > worst {
			worst = b
		}
	}
	return over, worst
}

func (d *starveDetector) runnable() int64 {
	if len(d.sched) < 2 || d.sched[1].Value.Kind() != metrics.KindUint64 {
		return -1
	}
	return int64(d.sched[1].Value.Uint64())
}

// busy reports whether at least GOMAXPROCS goroutines besides the caller are
// running or runnable: only then can a P-starved goroutine exist. Without the
// gauges (before Go 1.26) it always says yes.
func (d *starveDetector) busy() bool {
	if d.gauges == nil {
		return true
	}
	metrics.Read(d.gauges)
	if d.gauges[0].Value.Kind() != metrics.KindUint64 || d.gauges[1].Value.Kind() != metrics.KindUint64 {
		return true
	}
	return int64(d.gauges[0].Value.Uint64()+d.gauges[1].Value.Uint64())-1 >= d.procs
}

func (d *starveDetector) run(stop <-chan struct{}) {
	d.p.addSelf(curGoroutineID())
	period := d.idle
	t := time.NewTimer(period)
	defer t.Stop()
	start := time.Now()
	mark := markThread()
	lastSched := start
	var fastUntil, nextGC time.Time
	if d.gc != nil {
		d.gc.init()
		nextGC = start.Add(d.p.cfg.GCWindow)
		period = min(period, d.p.cfg.GCWindow)
		t.Reset(period)
	}
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		late := now.Sub(start) - period
		d.p.sentinelTicks.Add(1)
		// The sentinel had gone late+d.period without running when it wanted to.
		gap := late + d.period
		starved := gap >= d.threshold
		if starved {
			d.p.sentinelLate.Add(1)
			if d.osLate(mark, late) {
				starved = false
				d.p.osPauses.Add(1)
			}
		}
		var over int
		var worst time.Duration
		if starved || now.Sub(lastSched) >= schedEvery {
			over, worst = d.readSched()
			lastSched = now
		}
		if starved {
			fastUntil = now.Add(fastHold)
			d.fired(stop, now, gap, over, worst)
		}
		if d.busy() {
			fastUntil = time.Now().Add(fastHold)
		}
		if d.gc != nil && !time.Now().Before(nextGC) {
			d.gc.window()
			nextGC = nextGC.Add(d.p.cfg.GCWindow)
			if now := time.Now(); nextGC.Before(now) { // starved past a whole window: skip ahead
				nextGC = now.Add(d.p.cfg.GCWindow)
			}
		}
		period = d.idle
		if time.Now().Before(fastUntil) {
			period = d.period
			d.p.fastTicks.Add(1)
		}
		if d.gc != nil {
			period = max(time.Millisecond, min(period, time.Until(nextGC)))
		}
		start = time.Now()
		mark = markThread()
		t.Reset(period)
	}
}

// osLate reports whether the OS, not the Go scheduler, made a sleep late.
// The sleeper's timer sits on the P it slept from, which keeps running on the
// same thread. If the kernel's counters say that thread ran for at least half
// of the lateness, a goroutine on that P ran without reaching a scheduling
// point (where timers are run): the Go scheduler's doing. If it ran less, it
// was waiting for a CPU or parked (a loaded machine, a VM steal, SIGSTOP):
// nobody in the process is to blame. Measured on a 2-core machine at load 8,
// a real hog's thread ran 0.5-1.9x the lateness and a well-behaved load's
// 0.02-0.6x. A thread that neither ran nor waited was parked: its P moved on,
// nothing was held. Where the counters are unavailable (not Linux), every late
// wake-up counts.
func (d *starveDetector) osLate(m threadMark, late time.Duration) bool {
	ran, waited, ok := m.since()
	if !ok {
		return false
	}
	if ran == 0 && waited == 0 {
		return true // the thread slept (its P moved on): no evidence against the OS
	}
	_ = waited // on a loaded machine a real hog's thread waits as much as it runs: not a verdict
	return ran < late/2
}

// fired handles one starvation signal: dump (rate-limited), name hogs, emit.
func (d *starveDetector) fired(stop <-chan struct{}, now time.Time, gap time.Duration, over int, worst time.Duration) {
	dur := gap
	if worst > dur {
		dur = worst
	}
	if !d.lastDump.IsZero() && now.Sub(d.lastDump) < d.interval {
		d.pendingMax = max(d.pendingMax, dur)
		d.pendingCount++
		return
	}
	d.lastDump = now
	if d.pendingMax > dur {
		dur = d.pendingMax
	}
	folded := d.pendingCount
	d.pendingMax, d.pendingCount = 0, 0

	samples := make([][]inspect.Goroutine, 0, d.samples)
	first := time.Now()
	var late time.Duration // lateness of the sleeps between samples that the OS did not cause, summed
	for i := 0; i < d.samples; i++ {
		if i > 0 {
			t0 := time.Now()
			m := markThread()
			if !sleepOrStop(stop, d.sampleGap) {
				return
			}
			if l := time.Since(t0) - d.sampleGap; l > 0 && !d.osLate(m, l) {
				late += l
			}
		}
		samples = append(samples, d.dump())
	}
	span := time.Since(first)
	d.p.dumpSessions.Add(1)
	// The runtime's own histogram is a witness: victims that waited past the
	// threshold for a P (read again: some were woken during the samples).
	o2, w2 := d.readSched()
	over += o2
	worst = max(worst, w2)
	dur = max(dur, worst)
	// The starvation must have lasted through the samples: the detector's own
	// short sleeps between them must together have woken at least half the
	// threshold late, and not by the OS's doing. While every P is held, each
	// sleep is late by up to a preemption period (10-20 ms), so three sleeps
	// pass this with ~98% probability; a busy goroutine that yields often,
	// caught in every dump by an OS hiccup, does not. Without it, that
	// goroutine would be blamed for being busy.
	if late < d.threshold/2 {
		d.p.unconfirmed.Add(1)
		return
	}
	hogs := d.hogs(samples)
	if len(hogs) == 0 && over < 2 { // nobody held a P and the runtime saw no victims
		d.p.unconfirmed.Add(1)
		return
	}
	runnable := d.runnable()
	units := d.p.unitsByGoroutine()
	var ctx strings.Builder
	fmt.Fprintf(&ctx, "sentinel woke %s after it slept", findings.FormatDuration(gap))
	if over > 0 {
		fmt.Fprintf(&ctx, "; %d scheduling waits >= %s (worst >= %s)", over, findings.FormatDuration(d.threshold), findings.FormatDuration(worst))
	}
	if runnable >= 0 {
		fmt.Fprintf(&ctx, "; %d goroutines runnable", runnable)
	}
	if folded > 0 {
		fmt.Fprintf(&ctx, "; %d more starved wake-ups since the last report", folded)
	}
	if len(hogs) == 0 {
		d.p.emit(Event{Kind: KindStarvation, Time: now, Duration: dur,
			Detail: "scheduler starvation, no goroutine held a P through the samples (short bursts?): " + ctx.String()})
		return
	}
	for _, h := range hogs {
		unit := units[h.g.ID]
		user := h.culprit
		detail := fmt.Sprintf("goroutine %d (%s) held a P through %d samples over %s: %s",
			h.g.ID, h.g.State, len(samples), findings.FormatDuration(span), user[0])
		if unit != "" {
			detail += " in unit " + unit
		}
		d.p.emit(Event{Kind: KindStarvation, Time: now, Duration: dur, Culprit: user,
			Goroutine: h.g.ID, Unit: unit, Detail: detail + "; " + ctx.String()})
	}
}

// dump takes one goroutine dump (stop-the-world) and parses it. The buffer
// grows to MaxDumpBytes when a dump fills it; a dump past the cap is cut and
// the goroutines past the cut are not seen.
func (d *starveDetector) dump() []inspect.Goroutine {
	if d.buf == nil {
		d.buf = make([]byte, min(256<<10, d.maxDump))
	}
	n := runtime.Stack(d.buf, true)
	gs := inspect.ParseGoroutines(d.buf[:n], 64)
	if n == len(d.buf) && len(d.buf) < d.maxDump {
		d.buf = make([]byte, min(2*len(d.buf), d.maxDump))
	}
	return gs
}

// onCPU reports whether g holds or wants a CPU without having given it up:
// running, or runnable with a stack that does not end in a park or a yield
// (a goroutine preempted by sysmon or by the dump's own stop-the-world shows
// as runnable at the instruction it was interrupted at).
func onCPU(g *inspect.Goroutine) bool {
	if g.State != "running" && g.State != "runnable" {
		return false
	}
	for i, f := range g.Frames {
		if i >= 3 {
			break
		}
		switch f.Function {
		case "runtime.gopark", "runtime.goparkunlock", "runtime.Gosched", "runtime.goschedguarded",
			"runtime.goyield", "runtime.goschedIfBusy", "runtime.park_m", "runtime.gosched_m":
			return false
		}
	}
	return true
}

// hog is a goroutine found on a CPU in every sample.
type hog struct {
	g       inspect.Goroutine // as in the last sample
	culprit []inspect.Frame   // user frames from the innermost one common to all samples, leaf first
}

// hogs returns the goroutines that were on a CPU in every sample and whose
// user-code stacks share a function across all samples, sorted by id, at most
// maxHogsPerEvent. The culprit is the innermost shared user function: for a
// loop that calls helpers, the samples land in different helpers but always
// under the loop, and the loop is what to fix.
func (d *starveDetector) hogs(samples [][]inspect.Goroutine) []hog {
	if len(samples) == 0 {
		return nil
	}
	type cand struct {
		common []string // user functions seen in every sample so far, leaf first
		n      int
		g      inspect.Goroutine
	}
	cands := map[int64]*cand{}
	for i, s := range samples {
		for j := range s {
			g := &s[j]
			if d.p.isSelf(g.ID) || !onCPU(g) {
				continue
			}
			user := inspect.UserFrames(g.Frames)
			if len(user) == 0 {
				continue
			}
			if i == 0 {
				c := &cand{n: 1, g: *g}
				for _, f := range user {
					c.common = append(c.common, f.Function)
				}
				cands[g.ID] = c
				continue
			}
			c := cands[g.ID]
			if c == nil || c.n != i {
				continue
			}
			kept := c.common[:0]
			for _, fn := range c.common {
				for _, f := range user {
					if f.Function == fn {
						kept = append(kept, fn)
						break
					}
				}
			}
			if c.common = kept; len(kept) > 0 {
				c.n++
				c.g = *g
			}
		}
	}
	var out []hog
	for _, c := range cands {
		if c.n != len(samples) {
			continue
		}
		user := inspect.UserFrames(c.g.Frames)
		for k, f := range user {
			if f.Function == c.common[0] {
				user = user[k:]
				break
			}
		}
		if len(user) > maxCulpritFrames {
			user = user[:maxCulpritFrames]
		}
		out = append(out, hog{g: c.g, culprit: user})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].g.ID < out[j].g.ID })
	if len(out) > maxHogsPerEvent {
		out = out[:maxHogsPerEvent]
	}
	return out
}

// sleepOrStop waits d, or returns false when stop closes first.
func sleepOrStop(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}
