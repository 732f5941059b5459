package inspect

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestExactCountsAcrossPs checks the per-P counters and magazines under
// load: more Ps than the monitor has per-P state for (so the atomic fallback runs alongside the
// per-P path), goroutines that move between Ps in the middle of a unit, and
// Snapshots taken meanwhile. Every run must be counted exactly once, the
// sum must be the sum of what was measured, and no slot may leak.
func TestExactCountsAcrossPs(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := NewMonitor(Config{Slow: time.Hour, OnStall: func(Stall) {}})
	defer m.Close()
	// More Ps than the monitor has per-P state for (it sized that for the
	// Ps and CPUs there were).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(len(m.procs) + 4))
	units := []*Unit{m.NewUnit("a"), m.NewUnit("b")}
	const goroutines, perG = 48, 3000
	stop := make(chan struct{})
	snaps := make(chan int, 1)
	go func() { // a reader racing the writers
		n := 0
		for {
			select {
			case <-stop:
				snaps <- n
				return
			default:
				m.Snapshot()
				m.InFlight()
				n++
			}
		}
	}()
	runUnits(units, goroutines, perG, yieldEvery(7))
	close(stop)
	t.Logf("%d snapshots taken during the run", <-snaps)

	checkAllEnded(t, m, goroutines*perG)
	for _, st := range m.Snapshot() {
		if st.Total <= 0 || st.Max <= 0 || st.Total < st.Max {
			t.Errorf("%s: total %v, max %v", st.Name, st.Total, st.Max)
		}
	}
	var perP, fallback uint64
	for _, u := range units {
		var st UnitStats
		for i := range u.s.pshards {
			if h := (*pshard)(atomic.LoadPointer(&u.s.pshards[i])); h != nil {
				h.addTo(&st)
			}
		}
		perP += st.Hist.Count()
		for i := range u.s.shards {
			var h Histogram
			u.s.shards[i].hist.addTo(&h)
			fallback += h.Count()
		}
	}
	t.Logf("%d runs counted per P, %d through the atomic fallback", perP, fallback)
	if perP == 0 {
		t.Error("the per-P path never ran")
	}
	if got := m.InFlight(); len(got) != 0 {
		t.Errorf("InFlight after all ended: %v", got)
	}
	// Slots are all free or parked in magazines; nothing active, and the
	// magazines hold no more than they can.
	parked := 0
	for _, sg := range *m.table.segs.Load() {
		for i := range sg.slots {
			switch w := atomic.LoadUint64(&sg.slots[i].word); {
			case w == reservedWord:
				parked++
			case w != 0:
				t.Errorf("slot %d still holds %#x", i, w)
			}
		}
	}
	inMags := 0
	for i := range m.procs {
		inMags += int(atomic.LoadUint64(&m.procs[i].n))
	}
	if parked < inMags || parked > len(m.procs)*magSize {
		t.Errorf("%d slots reserved, %d in magazines (at most %d)", parked, inMags, len(m.procs)*magSize)
	}
	// The table holds what is in flight plus what the magazines keep; it
	// may grow a segment past that, never more.
	if need := goroutines + len(m.procs)*magSize; m.table.size() > firstSegment*(need/firstSegment+1) {
		t.Errorf("table grew to %d slots for %d goroutines and %d magazines", m.table.size(), goroutines, len(m.procs))
	}
}

// TestDoneWhenEndMissesReportedBit plays End's race with the watchdog: End
// read its slot word, the watchdog then set the reported bit, and End's
// plain store released the slot over it, so End never saw the report. The
// watchdog must still deliver exactly one final report.
func TestDoneWhenEndMissesReportedBit(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := newRecorder()
	m := NewMonitor(Config{Slow: 5 * time.Millisecond, OnStall: rec.on})
	defer m.Close()
	r := m.Begin(context.Background(), "racy")
	first := rec.next(t)
	if first.Done || first.Unit != "racy" {
		t.Fatalf("first report: %+v", first)
	}
	w := atomic.LoadUint64(&r.slot.word)
	if w != r.word|reportedBit {
		t.Fatalf("slot word %#x, want the reported form of %#x", w, r.word)
	}
	atomic.StoreUint64(&r.slot.word, 0) // End's release, missing the bit
	for {
		s := rec.next(t)
		if !s.Done {
			continue // a growth report that was already due
		}
		if s.Unit != "racy" || s.Elapsed < first.Elapsed {
			t.Errorf("final report %+v after first %v", s, first.Elapsed)
		}
		break
	}
	m.Close()
	select {
	case s := <-rec.ch:
		if s.Done {
			t.Errorf("second final report: %+v", s)
		}
	default:
	}
}

// TestClockAgreesWithNanotime: durations measured in ticks and converted
// agree with the runtime's clock (time.Since's) over a span long enough for
// the read jitter not to matter.
func TestClockAgreesWithNanotime(t *testing.T) {
	initClock()
	t.Logf("TSC: %v, ns per tick %.6f", clockTSC, float64(tickMult.Load())/(1<<32))
	for range 3 {
		t0, n0 := ticks(), nanotime()
		time.Sleep(20 * time.Millisecond) // a span to measure, not a wait for anything
		t1, n1 := ticks(), nanotime()
		got, want := ticksToNS(t1-t0), n1-n0
		if diff := got - want; diff > want/200+5000 || -diff > want/200+5000 {
			t.Errorf("ticks say %d ns, nanotime %d ns", got, want)
		}
		if back := nsToTicks(got); back < (t1-t0)*999/1000 || back > (t1-t0)*1001/1000 {
			t.Errorf("nsToTicks(ticksToNS(%d)) = %d", t1-t0, back)
		}
	}
	if !clockTSC && tickMult.Load() != 1<<32 {
		t.Errorf("nanotime mode with ns per tick %d/2^32", tickMult.Load())
	}
	if ticksToNS(-5) != 0 {
		t.Error("negative tick count not clamped to 0")
	}
}

// TestFlushStores: the watchdog can only leave when the asymmetric fence
// works; it must here (linux, or sync/atomic stores elsewhere).
func TestFlushStores(t *testing.T) {
	if !flushStores() {
		t.Error("flushStores failed: membarrier(2) unavailable, the watchdog would never exit")
	}
}

// TestClockRefine: the watchdog's refinement re-measures the ratio once the
// baseline has doubled, moves it by no more than the read jitter, and then
// waits for the next doubling; in nanotime mode it never touches it.
func TestClockRefine(t *testing.T) {
	initClock()
	before := tickMult.Load()
	calibMu.Lock()
	calibNext = 0 // due now
	calibMu.Unlock()
	refineClock()
	after := tickMult.Load()
	if !clockTSC {
		if after != 1<<32 {
			t.Fatalf("nanotime mode: ns per tick %d/2^32 after refine", after)
		}
		return
	}
	if d := float64(after)/float64(before) - 1; d > 5e-3 || d < -5e-3 {
		t.Errorf("refine moved ns per tick by %.4f%% (%d -> %d)", 100*d, before, after)
	}
	calibMu.Lock()
	next := calibNext
	calibMu.Unlock()
	if baseline := nanotime() - refNanos; next < nanotime()+baseline/2 {
		t.Errorf("next refinement at %d, only %d ns away with a %d ns baseline", next, next-nanotime(), baseline)
	}
	refineClock() // not due: must not re-measure
	if tickMult.Load() != after {
		t.Error("refined again before the baseline doubled")
	}
}

// TestRaisedLimitKeepsReportedUnit: a reported unit whose limit is raised
// past its elapsed time is still running: no final report until it ends.
func TestRaisedLimitKeepsReportedUnit(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := newRecorder()
	m := NewMonitor(Config{Slow: 5 * time.Millisecond, OnStall: rec.on})
	defer m.Close()
	r := m.Begin(context.Background(), "raised")
	if s := rec.next(t); s.Done {
		t.Fatalf("first report is final: %+v", s)
	}
	// Its limit goes up; others' stay low, so the watchdog keeps ticking
	// every 2.5 ms and would have three chances to think it gone.
	m.Configure(Config{Slow: 5 * time.Millisecond, SlowUnits: map[string]time.Duration{"raised": time.Hour}, OnStall: rec.on})
	scans := m.scans.Load()
	waitFor(t, func() bool { return m.scans.Load() >= scans+5 })
	if done := rec.drainDone(); done != 0 {
		t.Fatalf("%d final reports while the unit runs", done)
	}
	r.End()
	for s := rec.next(t); !s.Done; s = rec.next(t) {
	}
}

// TestCloseDeliversMissedDone: Close gives the final report of a unit whose
// End released its slot over the reported bit, without waiting for ticks.
func TestCloseDeliversMissedDone(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := newRecorder()
	m := NewMonitor(Config{Slow: 5 * time.Millisecond, OnStall: rec.on})
	r := m.Begin(context.Background(), "closing")
	rec.next(t)
	m.Configure(Config{Slow: time.Hour, OnStall: rec.on}) // no more ticks worth speaking of
	atomic.StoreUint64(&r.slot.word, 0)                   // End's release, missing the bit
	m.Close()
	if done := rec.drainDone(); done != 1 {
		t.Errorf("%d final reports after Close, want 1", done)
	}
}

// TestFullTableFailsFast: once a full table has been searched in vain,
// Begins do not queue on its lock to search it again.
func TestFullTableFailsFast(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer func(d time.Duration) { fullBackoff = d }(fullBackoff)
	fullBackoff = time.Hour
	cfg := quiet()
	cfg.Slots = 64
	m := NewMonitor(cfg)
	defer m.Close()
	var rs []Region
	for range 64 + len(m.procs)*magSize {
		rs = append(rs, m.Begin(context.Background(), "x"))
	}
	if st := m.Snapshot()[0]; st.Unwatched == 0 {
		t.Fatalf("table of 64 not full with %d in flight: %+v", len(rs), st)
	}
	m.table.mu.Lock()
	got := make(chan *slot)
	go func() { got <- m.table.claim(0, 1, activeBit|1<<unitShift) }()
	select {
	case s := <-got:
		if s != nil {
			t.Error("claimed a slot in a full table")
		}
	case <-time.After(10 * time.Second):
		t.Error("claim waited for the table lock although the table was just found full")
	}
	m.table.mu.Unlock()
	for _, r := range rs {
		r.End()
	}
}

// TestPShardBudget: once a monitor's budget of per-P counter sets is spent,
// units count into their atomic shards, exactly.
func TestPShardBudget(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := NewMonitor(Config{Slow: time.Hour, OnStall: func(Stall) {}})
	defer m.Close()
	m.pshardsLeft.Store(1)
	units := []*Unit{m.NewUnit("a"), m.NewUnit("b"), m.NewUnit("c")}
	const goroutines, perG = 8, 2000
	runUnits(units, goroutines, perG, yieldEvery(5))
	sets := 0
	for _, u := range units {
		for i := range u.s.pshards {
			if atomic.LoadPointer(&u.s.pshards[i]) != nil {
				sets++
			}
		}
	}
	if sets != 1 || m.pshardsLeft.Load() > 0 {
		t.Errorf("%d per-P counter sets with a budget of 1 (%d left)", sets, m.pshardsLeft.Load())
	}
	checkAllEnded(t, m, goroutines*perG)
}

// runUnits runs perG units on each of goroutines goroutines, cycling through
// units, and calls middle(i) in the middle of the i-th run of each.
func runUnits(units []*Unit, goroutines, perG int, middle func(i int)) {
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				r := units[(g+i)%len(units)].Begin(context.Background())
				middle(i)
				r.End()
			}
		}()
	}
	wg.Wait()
}

// yieldEvery returns a runUnits middle that yields the P in every n-th run,
// which then likely ends on another P.
func yieldEvery(n int) func(int) {
	return func(i int) {
		if i%n == 0 {
			runtime.Gosched()
		}
	}
}

// drainDone empties the recorder and returns how many final reports it held.
func (r *stallRecorder) drainDone() int {
	n := 0
	for {
		select {
		case s := <-r.ch:
			if s.Done {
				n++
			}
		default:
			return n
		}
	}
}

// checkAllEnded checks that m counted want runs in all and has none in
// flight.
func checkAllEnded(t *testing.T, m *Monitor, want uint64) {
	t.Helper()
	var total uint64
	for _, st := range m.Snapshot() {
		total += st.Count
		if st.InFlight != 0 {
			t.Errorf("%s: %d in flight after all ended", st.Name, st.InFlight)
		}
	}
	if total != want {
		t.Errorf("counted %d runs, want %d", total, want)
	}
}
