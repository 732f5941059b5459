package probes

import (
	"context"
	"flag"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
	"go.uber.org/goleak"
)

var (
	raceEnabled bool // set by race_test.go

	sink     atomic.Uint64
	spinning atomic.Int64 // hogs that reached their loop
)

// waitSpinning polls until n hogs are in their loops.
func waitSpinning(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for spinning.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d hogs started", spinning.Load(), n)
		}
		runtime.Gosched()
	}
}

// spinArith is a hog without function calls in its loop: only asynchronous
// preemption can stop it.
//
//go:noinline
func spinArith(stop *atomic.Bool) {
	spinning.Add(1)
	x := uint64(1)
	for i := 0; ; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		if i&(1<<22-1) == 0 && stop.Load() {
			break
		}
	}
	sink.Add(x)
}

//go:noinline
func step(x uint64) uint64 { return x*6364136223846793005 + 1 }

// spinCalls is a hog that calls a function in every iteration.
//
//go:noinline
func spinCalls(stop *atomic.Bool) {
	spinning.Add(1)
	x := uint64(1)
	for !stop.Load() {
		for i := 0; i < 1000; i++ {
			x = step(x)
		}
	}
	sink.Add(x)
}

// withProcs sets GOMAXPROCS for the test and restores it.
func withProcs(t *testing.T, n int) {
	old := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// collector gathers events from OnEvent.
type collector struct {
	mu  sync.Mutex
	evs []Event
	ch  chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1)} }

func (c *collector) on(e Event) {
	c.mu.Lock()
	c.evs = append(c.evs, e)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

func (c *collector) kind(k string) []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Event
	for _, e := range c.evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls until n events of kind k arrived, or the deadline passes.
func (c *collector) waitFor(t *testing.T, k string, n int, d time.Duration) []Event {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if evs := c.kind(k); len(evs) >= n {
			return evs
		}
		select {
		case <-c.ch:
		case <-deadline.C:
			return c.kind(k)
		}
	}
}

func TestStarvationNamesHog(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(*atomic.Bool)
		want string
	}{
		{"arithmetic loop", spinArith, "probes.spinArith"},
		{"loop with calls", spinCalls, "probes.spinCalls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			withProcs(t, 2)
			c := newCollector()
			var stop atomic.Bool
			var wg sync.WaitGroup
			const hogs = 4 // > GOMAXPROCS: headroom on a loaded machine
			spinning.Store(0)
			for i := 0; i < hogs; i++ {
				wg.Add(1)
				go func() { defer wg.Done(); tc.fn(&stop) }()
			}
			// Only goroutines already in their loops can be named by their
			// loop; one caught at its first instruction is named by its go
			// statement's closure.
			waitSpinning(t, hogs)
			started := time.Now()
			p, err := Start(Config{OnEvent: c.on, NoGC: true, DumpInterval: 100 * time.Millisecond})
			if err != nil {
				stop.Store(true)
				wg.Wait()
				t.Fatal(err)
			}
			evs := c.waitFor(t, KindStarvation, *wantEvents, time.Duration(*wantEvents)*2*time.Second+20*time.Second)
			firstAfter := time.Duration(0)
			if len(evs) > 0 {
				firstAfter = evs[0].Time.Sub(started)
			}
			stop.Store(true)
			wg.Wait()
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				t.Fatalf("no starvation event with %d hogs on GOMAXPROCS=2; stats %+v", hogs, p.Stats())
			}
			// Named: the hog's function is the culprit, or the culprit's caller
			// (the samples all landed in step, which spinCalls calls).
			named := 0
			var misses []Event
			for _, e := range evs {
				if namesHog(e, tc.want) {
					named++
				} else {
					misses = append(misses, e)
				}
			}
			t.Logf("%d events, %d name %s; first after %s; stats %+v; example: %s", len(evs), named, tc.want, firstAfter, p.Stats(), evs[0].Detail)
			// The goal is 1s (measured 30-700 ms on a 2-core machine at load
			// 9-17); the limit allows for a CI machine so loaded that the OS,
			// not Go, delays most wake-ups, which the detector dismisses.
			limit := 10 * time.Second
			if raceEnabled {
				limit = 20 * time.Second
			}
			if firstAfter > limit {
				t.Errorf("first starvation event %s after the hogs started, want <= %s", firstAfter, limit)
			}
			if named*10 < len(evs)*8 {
				for _, e := range misses {
					t.Logf("event not naming the hog: culprit %v: %s", e.Culprit, e.Detail)
				}
				t.Errorf("hog %s named in %d of %d starvation events, want most (>= 80%%)", tc.want, named, len(evs))
			}
		})
	}
}

func namesHog(e Event, fn string) bool {
	for i, f := range e.Culprit {
		if i >= 2 {
			break
		}
		if strings.HasSuffix(f.Function, "/"+fn) {
			return true
		}
	}
	return false
}

// fairLoad runs a well-behaved mix until stop closes: a producer feeding
// workers that do ~100 µs of work per item, sleepers, and a CPU-bound
// background worker that yields every ~100 µs (what inspect.Budget does).
func fairLoad(stop <-chan struct{}, wg *sync.WaitGroup) {
	work := func(n int) uint64 {
		x := uint64(n)
		for i := 0; i < 20000; i++ {
			x = x*6364136223846793005 + 1
		}
		return x
	}
	items := make(chan int, 64)
	wg.Add(1)
	go func() { // producer: ~2000 items/s
		defer wg.Done()
		defer close(items)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
				items <- i
				items <- i
			}
		}
	}()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range items {
				sink.Add(work(it))
			}
		}()
	}
	for s := 0; s < 8; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(1+s) * time.Millisecond):
					sink.Add(work(s) & 1)
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // background: CPU-bound, yields every ~100 µs
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			deadline := time.Now().Add(100 * time.Microsecond)
			for time.Now().Before(deadline) {
				sink.Add(work(1) & 1)
			}
			runtime.Gosched()
		}
	}()
}

func TestStarvationFairLoadNotFlagged(t *testing.T) {
	defer goleak.VerifyNone(t)
	withProcs(t, 2)
	d := 5 * time.Second
	if testing.Short() {
		d = 2 * time.Second
	}
	c := newCollector()
	p, err := Start(Config{OnEvent: c.on, NoGC: true})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	fairLoad(stop, &wg)
	time.Sleep(d) // the load runs for d: this is the test's duration, not synchronisation
	close(stop)
	wg.Wait()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	t.Logf("fair load for %s: %+v", d, st)
	if st.SentinelTicks < uint64(d/(200*time.Millisecond)) {
		t.Errorf("sentinel ticked only %d times in %s: it is not running", st.SentinelTicks, d)
	}
	for _, e := range c.kind(KindStarvation) {
		t.Errorf("fair load flagged: culprit %v: %s", e.Culprit, e.Detail)
	}
}

func TestStarvationIdleNotFlagged(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := newCollector()
	p, err := Start(Config{OnEvent: c.on, NoGC: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // idle for a second: the test's duration
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if evs := c.kind(KindStarvation); len(evs) > 0 {
		t.Errorf("idle process flagged %d times, first: %s", len(evs), evs[0].Detail)
	}
	if st := p.Stats(); st.SentinelTicks == 0 {
		t.Errorf("sentinel never ticked: %+v", st)
	}
}

func TestStarvationNamesUnit(t *testing.T) {
	defer goleak.VerifyNone(t)
	withProcs(t, 2)
	mon := inspect.NewMonitor(inspect.Config{Slow: time.Hour})
	defer mon.Close()
	c := newCollector()
	var stop atomic.Bool
	var wg sync.WaitGroup
	spinning.Store(0)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = mon.Do(context.Background(), "rewrite", func(context.Context) error {
				spinArith(&stop)
				return nil
			})
		}()
	}
	waitSpinning(t, 4)
	p, err := Start(Config{OnEvent: c.on, NoGC: true, Monitor: mon, DumpInterval: 100 * time.Millisecond})
	if err != nil {
		stop.Store(true)
		wg.Wait()
		t.Fatal(err)
	}
	evs := c.waitFor(t, KindStarvation, 8, 20*time.Second)
	stop.Store(true)
	wg.Wait()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	inUnit := 0
	for _, e := range evs {
		if e.Unit == "rewrite" && namesHog(e, "probes.spinArith") {
			inUnit++
		}
	}
	if len(evs) == 0 || inUnit*10 < len(evs)*8 {
		t.Fatalf("%d of %d starvation events name unit rewrite and probes.spinArith, want most; stats %+v", inUnit, len(evs), p.Stats())
	}
	fs := p.Findings()
	if len(fs) == 0 || fs[0].Unit != "rewrite" || fs[0].Kind != findings.CPUBoundLoop {
		t.Errorf("top finding %+v", fs)
	}
}

var wantEvents = flag.Int("events", 8, "starvation events TestStarvationNamesHog collects per case (more gives a tighter named-fraction figure)")

var soak = flag.Duration("soak", 0, "run TestStarvationSoak: a well-behaved load under the probes for this long (e.g. -soak 10m)")

// TestStarvationSoak runs the fair load for -soak (10 minutes in the issue's
// goal) and fails on any starvation event. Run:
//
//	go test ./probes -run TestStarvationSoak -soak 10m -timeout 15m -v
func TestStarvationSoak(t *testing.T) {
	if *soak <= 0 {
		t.Skip("set -soak DURATION (e.g. -soak 10m) to run the long well-behaved load")
	}
	defer goleak.VerifyNone(t)
	withProcs(t, 2)
	c := newCollector()
	p, err := Start(Config{OnEvent: c.on})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	fairLoad(stop, &wg)
	time.Sleep(*soak) // the soak's duration
	close(stop)
	wg.Wait()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	t.Logf("soak %s: %+v", *soak, st)
	for _, e := range c.kind(KindStarvation) {
		t.Errorf("well-behaved load flagged at %s: culprit %v: %s", e.Time.Format(time.TimeOnly), e.Culprit, e.Detail)
	}
}
