package inspect

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"time"
)

// The watchdog is one goroutine per Monitor. Every tick (half the smallest
// threshold, clamped to [1 ms, 5 s], so a unit is noticed before 1.5x its
// threshold) it scans the in-flight table: one atomic load per slot, ~1 ns
// each, no lock, nothing stopped. Only when some unit is due a report does it
// take a goroutine dump (runtime.Stack with all=true, which stops the world),
// at most DumpsPerSecond per second, and only one dump per tick however many
// units are due. It starts with the first unit and exits after a second with
// nothing in flight, so an idle program has no watchdog at all.

const (
	minTick  = time.Millisecond
	maxTick  = 5 * time.Second
	idleExit = time.Second
)

// ended is End's message about a unit the watchdog had reported.
type ended struct {
	u       *unitState
	slot    *slot
	word    uint64 // without reportedBit
	elapsed int64  // ns
}

type trackKey struct {
	slot *slot
	word uint64 // without reportedBit
}

// tracked is the watchdog's memory of one reported unit.
type tracked struct {
	u       *unitState
	goid    int64
	reports int
	nextC   int64 // elapsed coarse ticks at which the next report is due
	last    Stall
	missed  int           // scans that did not find it in its slot
	gone    time.Duration // its elapsed time at the first of those
	seen    bool
}

type due struct {
	key trackKey
	t   *tracked
	elC int64 // elapsed coarse ticks
}

func tickFor(minLimit int64) time.Duration {
	return min(max(time.Duration(minLimit)/2, minTick), maxTick)
}

// startWatchdog starts the watchdog goroutine unless it runs or the monitor
// is closed. Called from Begin only when wdRunning reads false.
func (m *Monitor) startWatchdog() {
	m.wdMu.Lock()
	defer m.wdMu.Unlock()
	if m.closed || m.wdRunning.Load() {
		return
	}
	m.wdRunning.Store(true)
	done := make(chan struct{})
	m.wdDone = done
	go m.watch(done)
}

func (m *Monitor) wakeWatchdog() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Close stops the watchdog and waits for it to exit, after it delivered the
// final reports of reported units that ended before Close. Units keep being timed
// and counted after Close, but are no longer watched. Close is idempotent.
func (m *Monitor) Close() {
	m.wdMu.Lock()
	if m.closed {
		m.wdMu.Unlock()
		return
	}
	m.closed = true
	m.wdRunning.Store(true) // keeps Begin from trying to start it again
	close(m.wdStop)
	done := m.wdDone
	m.wdMu.Unlock()
	if done != nil {
		<-done
	}
}

type watchdog struct {
	m       *Monitor
	tracked map[trackKey]*tracked
	tokens  float64
	lastTok int64
	buf     []byte
	limits  []int64 // coarse ticks, by unit index; reused between scans
}

func (m *Monitor) watch(done chan struct{}) {
	defer close(done)
	// Started from some unit's Begin, it inherited that goroutine's pprof
	// labels; the watchdog's own CPU time belongs to no unit.
	pprof.SetGoroutineLabels(context.Background())
	w := &watchdog{m: m, tracked: map[trackKey]*tracked{}, tokens: dumpBurst, lastTok: nanotime()}
	tick := tickFor(m.minLimit.Load())
	t := time.NewTimer(tick)
	defer t.Stop()
	idleSince := nanotime()
	for {
		select {
		case <-m.wdStop:
			w.drainEnded() // final reports of units that ended before Close
			w.finalReports()
			return
		case e := <-m.endedQ:
			w.ended(e)
			continue
		case <-m.wake:
		case <-t.C:
		}
		w.drainEnded()
		refineClock()
		active := w.scan()
		m.scans.Add(1)
		now := nanotime()
		if active > 0 || len(w.tracked) > 0 {
			idleSince = now
		} else if time.Duration(now-idleSince) >= idleExit && w.tryExit() {
			return
		}
		tick = tickFor(m.minLimit.Load())
		t.Reset(tick)
	}
}

// tryExit stops the watchdog if the table is still empty; the check runs
// under wdMu after clearing wdRunning, so a Begin that claimed a slot either
// is seen here or sees wdRunning false and starts a new watchdog.
func (w *watchdog) tryExit() bool {
	m := w.m
	m.wdMu.Lock()
	defer m.wdMu.Unlock()
	if m.closed {
		return false // Close is waiting for wdStop to be seen
	}
	m.wdRunning.Store(false)
	// Begin stores its slot word and then reads wdRunning; with plain stores
	// (relaxed_plain.go) the read can pass the store, so a Begin that read
	// true may have a word this scan would miss. flushStores is the
	// asymmetric fence that rules that out; where it is unavailable the
	// watchdog stays (its idle cost is one scan per tick).
	if !flushStores() {
		m.wdRunning.Store(true)
		return false
	}
	for _, sg := range *m.table.segs.Load() {
		for i := range sg.slots {
			if atomic.LoadUint64(&sg.slots[i].word)&activeBit != 0 {
				m.wdRunning.Store(true)
				return false
			}
		}
	}
	return true
}

// finalReports is Close's last pass: a reported unit that has left its slot
// without its final report reaching the watchdog (End released the slot over
// the reported bit) gets it now, rather than two ticks that will not come.
func (w *watchdog) finalReports() {
	for k, t := range w.tracked {
		if atomic.LoadUint64(&k.slot.word) == k.word|reportedBit {
			continue // still running: no longer watched after Close
		}
		delete(w.tracked, k)
		w.deliverGone(t, time.Since(t.last.Started))
	}
}

// deliverGone sends the final report of a tracked unit that ended without
// telling the watchdog, with the elapsed time first seen without it.
func (w *watchdog) deliverGone(t *tracked, gone time.Duration) {
	st := t.last
	st.Elapsed = max(gone, st.Elapsed)
	st.Report = t.reports + 1
	st.Done = true
	w.m.deliver(st)
}

func (w *watchdog) drainEnded() {
	for {
		select {
		case e := <-w.m.endedQ:
			w.ended(e)
		default:
			return
		}
	}
}

// ended delivers the final report of a reported unit.
func (w *watchdog) ended(e ended) {
	k := trackKey{e.slot, e.word}
	t := w.tracked[k]
	if t == nil {
		return
	}
	delete(w.tracked, k)
	st := t.last
	st.Elapsed = time.Duration(e.elapsed)
	st.Report = t.reports + 1
	st.Done = true
	w.m.deliver(st)
}

// scan looks at every slot once, reports the units that are due, and returns
// how many units are in flight.
func (w *watchdog) scan() int {
	m := w.m
	nowC := ticks() >> coarseShift
	var dues []due
	active := 0
	for k := range w.tracked {
		w.tracked[k].seen = false
	}
	// Thresholds by unit index, read once per scan rather than per slot.
	units := *m.units.Load()
	limits := w.limits[:0]
	limits = append(limits, math.MaxInt64) // index 0: no unit
	for _, u := range units {
		limits = append(limits, nsToTicks(u.limit.Load())>>coarseShift)
	}
	w.limits = limits
	for _, sg := range *m.table.segs.Load() {
		active += w.scanSegment(sg, nowC, units, limits, &dues)
	}
	// Reported units that left their slot without a final report reaching
	// us: End released the slot with a plain store just as the watchdog set
	// the reported bit (so End did not see it), or the ended queue was full.
	// Their final report comes from here, two scans later (a report End did
	// queue arrives before then), with the elapsed time of the first scan
	// that missed them: late by at most one tick.
	for k, t := range w.tracked {
		if t.seen {
			continue
		}
		if t.missed++; t.missed == 1 {
			t.gone = time.Since(t.last.Started)
		} else if t.missed > 2 {
			delete(w.tracked, k)
			w.deliverGone(t, t.gone)
		}
	}
	if len(dues) > 0 && w.takeToken() {
		w.report(dues)
	}
	return active
}

const dumpBurst = 3

// scanSegment is scan's inner loop over one segment. It has one branch that
// is almost never taken: a free slot (word 0) has unit index 0, whose limit
// is infinite, so free and busy slots take the same path and the branch
// predictor is never wrong about them.
func (w *watchdog) scanSegment(sg *segment, nowC int64, units []*unitState, limits []int64, dues *[]due) (active int) {
	slots := sg.slots
	for i := range slots {
		s := &slots[i]
		word := atomic.LoadUint64(&s.word)
		active += int(word >> 63)
		idx := (word >> unitShift) & (1<<unitIdxBits - 1)
		elC := elapsedCoarse(nowC, word)
		if idx >= uint64(len(limits)) || elC < limits[idx] && word&reportedBit == 0 {
			continue
		}
		limC := max(limits[idx], 1)
		u := units[idx-1]
		key := trackKey{s, word &^ reportedBit}
		if t := w.tracked[key]; t != nil {
			// Still running, even if it now looks younger than its limit
			// (the limit was raised, or its elapsed time wrapped).
			t.seen = true
			if elC >= t.nextC {
				*dues = append(*dues, due{key, t, elC})
			}
			continue
		}
		if word&reportedBit != 0 {
			continue // reported by an earlier watchdog run; End will find no one
		}
		g := atomic.LoadInt64(&sg.goids[i])
		if uint64(g)&tagMask != (word>>tagShift)&tagMask || atomic.LoadUint64(&s.word) != word {
			continue // the owner has not stored its id yet, or just left
		}
		*dues = append(*dues, due{key, &tracked{u: u, goid: g, nextC: limC, seen: true}, elC})
	}
	return active
}

// takeToken is the token bucket that rate-limits goroutine dumps.
func (w *watchdog) takeToken() bool {
	now := nanotime()
	rate := w.m.cfg.Load().DumpsPerSecond
	w.tokens = min(dumpBurst, w.tokens+float64(now-w.lastTok)/1e9*rate)
	w.lastTok = now
	if w.tokens < 1 {
		return false
	}
	w.tokens--
	return true
}

// report marks new stalls as reported, takes one goroutine dump and delivers
// one report per due unit.
func (w *watchdog) report(dues []due) {
	m := w.m
	want := make(map[int64]bool, len(dues))
	kept := dues[:0]
	for _, d := range dues {
		if d.t.reports == 0 {
			if !atomic.CompareAndSwapUint64(&d.key.slot.word, d.key.word, d.key.word|reportedBit) {
				continue // ended meanwhile, before it was ever reported
			}
			w.tracked[d.key] = d.t
			d.t.u.stalls.Add(1)
		}
		if d.t.goid != 0 {
			want[d.t.goid] = true
		}
		kept = append(kept, d)
	}
	if len(kept) == 0 {
		return
	}
	cfg := m.cfg.Load()
	var blocks map[int64]goroutineBlock
	if len(want) > 0 {
		blocks = findGoroutines(w.dump(cfg.MaxDumpBytes), want, cfg.MaxFrames)
	}
	nowWall := time.Now()
	for _, d := range kept {
		t := d.t
		el := time.Duration(ticksToNS(d.elC << coarseShift))
		st := Stall{
			Unit:      t.u.name,
			Goroutine: t.goid,
			Started:   nowWall.Add(-el),
			Elapsed:   el,
			Limit:     time.Duration(t.u.limit.Load()),
		}
		if t.reports > 0 {
			st.Started = t.last.Started
		}
		if b, ok := blocks[t.goid]; ok {
			st.State = b.header.state
			st.Waiting = b.header.waiting
			st.OnCPU = st.State == "running" || st.State == "runnable"
			st.Frames = b.frames
			st.Stack = b.text
		}
		t.reports++
		st.Report = t.reports
		// Next report when the elapsed time doubles past the threshold.
		next := t.nextC
		for next <= d.elC {
			next *= 2
			if next <= 0 {
				next = d.elC + 1
				break
			}
		}
		t.nextC = next
		t.last = st
		m.deliver(st)
	}
}

// dump takes a goroutine dump of all goroutines, growing the buffer up to
// limit bytes. The buffer is kept between dumps only while it is small.
func (w *watchdog) dump(limit int) []byte {
	if len(w.buf) == 0 {
		w.buf = make([]byte, min(64<<10, limit))
	}
	w.m.dumps.Add(1)
	for {
		n := runtime.Stack(w.buf, true)
		if n < len(w.buf) || len(w.buf) >= limit {
			out := w.buf[:n]
			if len(w.buf) > 1<<20 {
				w.buf = nil
			}
			return out
		}
		w.buf = make([]byte, min(2*len(w.buf), limit))
	}
}

// deliver records st in the ring of kept stalls and hands it to the sink.
func (m *Monitor) deliver(st Stall) {
	cfg := m.cfg.Load()
	m.stallMu.Lock()
	m.stallSeq++
	st.Seq = m.stallSeq
	if len(m.stalls) < cfg.MaxStalls {
		m.stalls = append(m.stalls, st)
	} else {
		m.stalls[(m.stallSeq-1)%uint64(len(m.stalls))] = st
	}
	m.stallMu.Unlock()
	if cfg.OnStall == nil {
		logStall(cfg.Logger, st)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			cfg.Logger.Error("inspect: OnStall panicked", "panic", fmt.Sprint(r), "unit", st.Unit)
		}
	}()
	cfg.OnStall(st)
}

// logStall is the default sink: one structured line per report.
func logStall(lg *slog.Logger, st Stall) {
	msg := "inspect: unit stalled"
	if st.Done {
		msg = "inspect: stalled unit finished"
	}
	attrs := []slog.Attr{
		slog.String("unit", st.Unit),
		slog.Duration("elapsed", st.Elapsed),
		slog.Duration("limit", st.Limit),
		slog.Int64("goroutine", st.Goroutine),
		slog.String("state", st.State),
		slog.Bool("on_cpu", st.OnCPU),
		slog.Int("report", st.Report),
	}
	if top := st.Top(); top.Function != "" {
		attrs = append(attrs, slog.String("at", top.String()))
	}
	lg.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

// Stalls returns the kept stall reports (the last Config.MaxStalls), oldest
// first.
func (m *Monitor) Stalls() []Stall {
	m.stallMu.Lock()
	defer m.stallMu.Unlock()
	out := make([]Stall, 0, len(m.stalls))
	if uint64(len(m.stalls)) < m.stallSeq {
		i := int(m.stallSeq % uint64(len(m.stalls)))
		out = append(out, m.stalls[i:]...)
		out = append(out, m.stalls[:i]...)
		return out
	}
	return append(out, m.stalls...)
}

// Stalls returns the default monitor's kept stall reports.
func Stalls() []Stall { return Default().Stalls() }
