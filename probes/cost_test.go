package probes

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"go.uber.org/goleak"
)

var costFlag = flag.Bool("cost", false, "measure each probe's steady CPU cost over longer rounds (TestProbeCPUCost)")

// rusageCPU is the CPU (user+system) this process has used, from getrusage.
func rusageCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// schedstatCPU is the CPU time the kernel's scheduler charged to this
// process's live threads (sum of /proc/self/task/*/schedstat, nanosecond
// precision). getrusage can be tick-sampled, which overcharges short periodic
// wake-ups that coincide with timer interrupts; this is the precise figure.
func schedstatCPU(t testing.TB) (time.Duration, bool) {
	paths, err := filepath.Glob("/proc/self/task/*/schedstat")
	if err != nil || len(paths) == 0 {
		return 0, false
	}
	var total time.Duration
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		total += time.Duration(n)
	}
	return total, true
}

// idleCPU returns the CPU the process used over a wall interval while idle,
// with the probes cfg selects running (or none, when cfg is nil).
func idleCPU(t *testing.T, cfg *Config, wall time.Duration) (rusage, sched time.Duration) {
	t.Helper()
	var p *Probes
	if cfg != nil {
		var err error
		if p, err = Start(*cfg); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC() // start each round from the same heap state
	c0 := rusageCPU(t)
	s0, _ := schedstatCPU(t)
	time.Sleep(wall) // the measured interval itself, not synchronisation
	c1 := rusageCPU(t)
	s1, _ := schedstatCPU(t)
	if p != nil {
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		if testing.Verbose() {
			t.Logf("stats %+v", p.Stats())
		}
	}
	return c1 - c0, s1 - s0
}

// TestProbeCPUCost measures each probe's CPU on an idle process against the
// same process with nothing running, in interleaved rounds of the same run,
// and fails if the starvation detector or the GC probe costs more than 0.5% of
// one core. With -cost the rounds are longer and the figures are the ones for
// BENCHMARKS.md.
func TestProbeCPUCost(t *testing.T) {
	defer goleak.VerifyNone(t)
	rounds, wall := 2, time.Second
	if *costFlag {
		rounds, wall = 5, 4*time.Second
	} else if testing.Short() {
		t.Skip("takes several seconds; run without -short")
	}
	probes := []struct {
		name string
		cfg  *Config
	}{
		{"off", nil},
		{"starvation", &Config{NoGC: true}},
		{"gc", &Config{NoStarvation: true}},
		{"both", &Config{}},
	}
	sum := make([]time.Duration, len(probes))
	ssum := make([]time.Duration, len(probes))
	for r := 0; r < rounds; r++ {
		for i, pr := range probes {
			ru, ss := idleCPU(t, pr.cfg, wall)
			sum[i] += ru
			ssum[i] += ss
		}
	}
	total := time.Duration(rounds) * wall
	pct := func(d time.Duration) float64 { return 100 * float64(d) / float64(total) }
	_, precise := schedstatCPU(t)
	for i, pr := range probes {
		extra := sum[i] - sum[0]
		t.Logf("%-10s getrusage CPU %6.3f%% of one core over %s (probe's own: %+.3f%%); schedstat %6.3f%% (%+.3f%%)",
			pr.name, pct(sum[i]), total, pct(extra), pct(ssum[i]), pct(ssum[i]-ssum[0]))
		if precise {
			extra = ssum[i] - ssum[0]
		}
		if i > 0 && pct(extra) > 0.5 && !raceEnabled { // the race detector multiplies every cost
			t.Errorf("%s probe costs %.3f%% of a core on an idle process, want <= 0.5%%", pr.name, pct(extra))
		}
	}
}

// BenchmarkSentinelTick is the detector's work per sentinel wake-up, without
// the sleep: clock reads, the per-thread schedstat read, the busy gauges, the
// counters.
func BenchmarkSentinelTick(b *testing.B) {
	p := &Probes{cfg: Config{}.withDefaults(), stop: make(chan struct{}), self: map[int64]bool{}}
	d := newStarveDetector(p)
	mark := markThread()
	start := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now := time.Now()
		gap := now.Sub(start)
		p.sentinelTicks.Add(1)
		if gap >= d.threshold && d.osLate(mark, gap-d.period) {
			p.osPauses.Add(1)
		}
		_ = d.busy()
		start = time.Now()
		mark = markThread()
	}
}

// BenchmarkSchedLatencyRead is one read of /sched/latencies (every 100ms).
func BenchmarkSchedLatencyRead(b *testing.B) {
	p := &Probes{cfg: Config{}.withDefaults(), stop: make(chan struct{}), self: map[int64]bool{}}
	d := newStarveDetector(p)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d.readSched()
	}
}

// BenchmarkGCWindow is the GC probe's work per window (every 200ms) with no
// inspect units: one runtime/metrics read and the bookkeeping.
func BenchmarkGCWindow(b *testing.B) {
	p := &Probes{cfg: Config{}.withDefaults(), stop: make(chan struct{}), self: map[int64]bool{}}
	g := newGCProbe(p)
	g.prev = g.read()
	p.gc = &gcState{start: g.prev, last: g.prev, units: map[string]*gcUnit{}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		g.window()
	}
}

// BenchmarkStarvationDumpRound is the cost of one round of goroutine dumps
// (Config.StarvationSamples stop-the-world runtime.Stack calls, 4 by default,
// parsed) with ~100 parked goroutines,
// without the sleeps between them: what the detector pays, at most once per
// DumpInterval, when starvation is seen.
func BenchmarkStarvationDumpRound(b *testing.B) {
	stop := make(chan struct{})
	for i := 0; i < 100; i++ {
		go func() { <-stop }()
	}
	defer close(stop)
	p := &Probes{cfg: Config{}.withDefaults(), stop: make(chan struct{}), self: map[int64]bool{}}
	d := newStarveDetector(p)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s := make([][]inspect.Goroutine, 0, d.samples)
		for range d.samples {
			s = append(s, d.dump())
		}
		_ = d.hogs(s)
	}
}
