package traceanalysis

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/pprof"
	rtrace "runtime/trace"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// record traces fn with runtime/trace into memory.
func record(t testing.TB, fn func()) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatalf("starting trace: %v", err)
	}
	fn()
	rtrace.Stop()
	return buf.Bytes()
}

func analyze(t testing.TB, data []byte, opt Options) *Result {
	t.Helper()
	res, err := Analyze(context.Background(), bytes.NewReader(data), opt)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	for name, p := range map[string]*profile.Profile{"offcpu": res.OffCPU, "schedlat": res.SchedLatency, "oncpu": res.OnCPU} {
		if err := p.CheckValid(); err != nil {
			t.Fatalf("%s profile invalid: %v", name, err)
		}
		var gz bytes.Buffer
		if err := p.Write(&gz); err != nil {
			t.Fatalf("%s profile: writing: %v", name, err)
		}
		if _, err := profile.Parse(&gz); err != nil {
			t.Fatalf("%s profile: parsing back: %v", name, err)
		}
	}
	return res
}

// waitIn sums the off-CPU nanoseconds of samples whose stack holds fn and
// whose reason label is reason.
func waitIn(p *profile.Profile, fn, reason string) (total time.Duration, idle time.Duration) {
	for _, s := range p.Sample {
		if s.Label["reason"][0] != reason || !stackHas(s, fn) {
			continue
		}
		d := time.Duration(s.Value[1])
		total += d
		if s.Label["idle"][0] == "true" {
			idle += d
		}
	}
	return total, idle
}

func stackHas(s *profile.Sample, fn string) bool {
	for _, l := range s.Location {
		for _, ln := range l.Line {
			if ln.Function.Name == fn {
				return true
			}
		}
	}
	return false
}

const pkg = "github.com/hotloop/hotloop/internal/traceanalysis."

// The blockers below each wait in their own function so the profile can be
// cut by function. Each stores when it began to wait in *start; the releaser
// notes when it released it, and the analysis must match the difference.

//go:noinline
func blockChan(ch chan struct{}, start *time.Time) {
	*start = time.Now()
	<-ch
}

//go:noinline
func blockMutex(mu *sync.Mutex, start *time.Time) {
	*start = time.Now()
	mu.Lock()
	mu.Unlock()
}

//go:noinline
func blockIO(c net.Conn, start *time.Time) error {
	buf := make([]byte, 1)
	*start = time.Now()
	_, err := io.ReadFull(c, buf)
	return err
}

//go:noinline
func blockSleep(d time.Duration, start *time.Time) {
	*start = time.Now()
	time.Sleep(d)
}

//go:noinline
func blockSyscall(fd int, start *time.Time) error {
	buf := make([]byte, 1)
	*start = time.Now()
	_, err := syscall.Read(fd, buf) // a blocking pipe: the goroutine sits in the syscall
	return err
}

// TestBlockReasonsAndDurations blocks goroutines on a channel, a mutex, a
// loopback TCP read, a sleep and a blocking pipe read for a time the test
// controls, and checks the reasons and durations the analysis reports. On a
// loaded machine the OS can deschedule a blocker between noting its start and
// parking (the trace then rightly shows it running), so the scenario is
// tried up to three times; a systematic error fails all three.
func TestBlockReasonsAndDurations(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer server.Close()
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])

	var problems []string
	for attempt := range 3 {
		problems = blockScenario(t, client, server, p)
		if len(problems) == 0 {
			return
		}
		t.Logf("attempt %d:\n  %s", attempt+1, strings.Join(problems, "\n  "))
	}
	t.Errorf("3 attempts failed; the last:\n  %s", strings.Join(problems, "\n  "))
}

func blockScenario(t *testing.T, client, server net.Conn, p [2]int) (problems []string) {
	const (
		hold   = 80 * time.Millisecond
		rounds = 2
	)
	want := map[string]time.Duration{}
	var sleptMax time.Duration // the sleeper's own clock, wake-up latency included
	data := record(t, func() {
		for range rounds {
			var wg sync.WaitGroup
			var start [5]time.Time
			var released [5]time.Time
			errs := make(chan error, 2)
			ch := make(chan struct{})
			var mu sync.Mutex
			mu.Lock()
			wg.Add(5)
			go func() { defer wg.Done(); blockChan(ch, &start[0]) }()
			go func() { defer wg.Done(); blockMutex(&mu, &start[1]) }()
			go func() { defer wg.Done(); errs <- blockIO(client, &start[2]) }()
			go func() { defer wg.Done(); blockSleep(hold, &start[3]); released[3] = time.Now() }()
			go func() { defer wg.Done(); errs <- blockSyscall(p[0], &start[4]) }()
			// The sleep sets how long each blocker waits.
			time.Sleep(hold)
			released[0] = time.Now()
			close(ch)
			released[1] = time.Now()
			mu.Unlock()
			released[2] = time.Now()
			if _, err := server.Write([]byte{1}); err != nil {
				t.Error(err)
			}
			released[4] = time.Now()
			if _, err := syscall.Write(p[1], []byte{1}); err != nil {
				t.Error(err)
			}
			wg.Wait()
			for range 2 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			for i, k := range []string{"chan", "mutex", "io", "sleep", "syscall"} {
				if k == "sleep" {
					want[k] += hold
					sleptMax += released[i].Sub(start[i])
					continue
				}
				want[k] += released[i].Sub(start[i])
			}
		}
	})
	res := analyze(t, data, Options{})
	cases := []struct {
		key, fn, reason string
	}{
		{"chan", "blockChan", reasonChanRecv},
		{"mutex", "blockMutex", reasonMutex},
		{"io", "blockIO", reasonIO},
		{"sleep", "blockSleep", reasonSleep},
		{"syscall", "blockSyscall", reasonSyscall},
	}
	for _, c := range cases {
		func() {
			got, idle := waitIn(res.OffCPU, pkg+c.fn, c.reason)
			want := want[c.key]
			if want < rounds*hold/2 {
				problems = append(problems, fmt.Sprintf("test setup: %s blocked only %v in total", c.fn, want))
				return
			}
			if c.key == "sleep" {
				// The timer may fire late on a loaded machine: the wait
				// lies between the requested time and the sleeper's own
				// clock (which also counts getting back on a P).
				if got < want || got > sleptMax {
					problems = append(problems, fmt.Sprintf("%s: off-CPU %q = %v, want between %v requested and %v measured", c.fn, c.reason, got, want, sleptMax))
				}
			} else if d := got - want; d > want/20 || d < -want/20 {
				problems = append(problems, fmt.Sprintf("%s: off-CPU %q = %v, want within 5%% of %v", c.fn, c.reason, got, want))
			}
			if idle != 0 {
				problems = append(problems, fmt.Sprintf("%s: %v counted idle; a wait followed by the goroutine's end is not idle", c.fn, idle))
			}
			kind, _ := kindOf(c.reason)
			if !slices.ContainsFunc(res.Findings, func(f findings.Finding) bool {
				return f.Culprit.Function == pkg+c.fn && f.Kind == kind
			}) {
				problems = append(problems, fmt.Sprintf("%s: no %q finding names it; findings:\n%s", c.fn, kind, text(res.Findings)))
			}
		}()
	}
	return problems
}

func text(fs []findings.Finding) string {
	var b strings.Builder
	_ = findings.WriteText(&b, fs)
	return b.String()
}

//go:noinline
func spinPlain(stop *int32, n *uint64) {
	x := uint64(1)
	for i := 0; ; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		if i&0xfffff == 0 && atomicLoad(stop) != 0 {
			break
		}
	}
	*n = x
}

//go:noinline
func spinCalls(stop *int32, n *uint64) {
	x := uint64(1)
	for atomicLoad(stop) == 0 {
		x = mix(x)
	}
	*n = x
}

// mix has a frame of its own (it calls round): the trace unwinds stacks by
// frame pointers, which loses the caller of a frameless leaf function.
//
//go:noinline
func mix(x uint64) uint64 {
	for range 16 {
		x = round(x)
	}
	return x
}

//go:noinline
func round(x uint64) uint64 { return x*6364136223846793005 + 1442695040888963407 }

func TestCPUBoundLoop(t *testing.T) {
	for _, fn := range []struct {
		name     string
		spin     func(*int32, *uint64)
		culprits []string
	}{
		{"spinPlain", spinPlain, []string{"spinPlain"}},
		{"spinCalls", spinCalls, []string{"spinCalls", "mix", "round"}},
	} {
		t.Run(fn.name, func(t *testing.T) {
			var stop int32
			var n uint64
			data := record(t, func() {
				done := make(chan struct{})
				go func() { fn.spin(&stop, &n); close(done) }()
				// Keep the scheduler busy enough that the spinner is
				// preempted (sysmon preempts after 10ms anyway).
				deadline := time.Now().Add(300 * time.Millisecond)
				for time.Now().Before(deadline) {
					runtime.Gosched()
					time.Sleep(time.Millisecond)
				}
				atomicStore(&stop, 1)
				<-done
			})
			res := analyze(t, data, Options{})
			// The culprit is the spinning function or, for the loop with
			// calls, possibly the callee where most of its time goes; the
			// stack then still shows the loop.
			var loop *findings.Finding
			for i, f := range res.Findings {
				if f.Kind != findings.CPUBoundLoop || !slices.Contains(fn.culprits, strings.TrimPrefix(f.Culprit.Function, pkg)) {
					continue
				}
				if slices.ContainsFunc(f.Stack, func(fr inspect.Frame) bool { return fr.Function == pkg+fn.name }) {
					loop = &res.Findings[i]
					break
				}
			}
			if loop == nil {
				t.Fatalf("no cpu-bound loop finding names %s; findings:\n%s", fn.name, text(res.Findings))
			}
			if loop.Culprit.Line == 0 || !strings.HasSuffix(loop.Culprit.File, "analyze_test.go") {
				t.Errorf("culprit %v: want file:line in analyze_test.go", loop.Culprit)
			}
			if len(res.Slices) == 0 || res.Slices[0].Duration < 10*time.Millisecond {
				t.Errorf("longest slice %+v, want >= 10ms", res.Slices)
			}
		})
	}
}

//go:noinline
func idleAccept(ln net.Listener, conns chan<- net.Conn) {
	for {
		c, err := ln.Accept()
		if err != nil {
			close(conns)
			return
		}
		conns <- c
	}
}

//go:noinline
func idleRead(c net.Conn) {
	buf := make([]byte, 1)
	_, _ = c.Read(buf)
}

//go:noinline
func idleTicks(ticks <-chan struct{}) {
	for range ticks {
	}
}

//go:noinline
func busyJobs(jobs <-chan struct{}) {
	for range jobs {
		spinFor(3 * time.Millisecond)
	}
}

func spinFor(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

func TestIdleSeparation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 1)
	acceptDone, readDone := make(chan struct{}), make(chan struct{})
	ticks, jobs := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var client, server net.Conn
	// Everything starts inside the trace: goroutines already waiting when a
	// trace begins are recorded without a stack.
	data := record(t, func() {
		go func() { idleAccept(ln, conns); close(acceptDone) }()
		client, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Error(err)
			return
		}
		server = <-conns
		go func() { idleRead(server); close(readDone) }()
		wg.Add(2)
		go func() { defer wg.Done(); idleTicks(ticks) }()
		go func() { defer wg.Done(); busyJobs(jobs) }()
		for range 10 {
			time.Sleep(10 * time.Millisecond) // the gap between ticks: the ticker's idle wait
			ticks <- struct{}{}
			jobs <- struct{}{}
		}
	})
	close(ticks)
	close(jobs)
	wg.Wait()
	if client == nil {
		t.FailNow()
	}
	client.Close()
	<-readDone
	server.Close()
	ln.Close()
	<-acceptDone

	res := analyze(t, data, Options{})
	checks := []struct {
		fn, reason string
		idle       bool
	}{
		{"idleAccept", reasonIO, true},
		{"idleRead", reasonIO, true},
		{"idleTicks", reasonChanRecv, true},
		{"busyJobs", reasonChanRecv, false},
	}
	for _, c := range checks {
		total, idle := waitIn(res.OffCPU, pkg+c.fn, c.reason)
		if total < 50*time.Millisecond {
			t.Errorf("%s: %q wait %v, want >= 50ms", c.fn, c.reason, total)
			continue
		}
		// All but the last wait: the trace may stop after a goroutine
		// woke and before it waited again, and then it cannot tell.
		if c.idle && idle < total*3/4 {
			t.Errorf("%s: idle %v of %v, want (almost) all idle", c.fn, idle, total)
		}
		if !c.idle && idle > total/10 {
			t.Errorf("%s: idle %v of %v, want (almost) none: it works after each wake", c.fn, idle, total)
		}
	}

	dropped := analyze(t, data, Options{DropIdle: true})
	for _, s := range dropped.OffCPU.Sample {
		if s.Label["idle"][0] == "true" {
			t.Fatalf("DropIdle kept an idle sample: %v", s.Label)
		}
	}
	if total, _ := waitIn(dropped.OffCPU, pkg+"busyJobs", reasonChanRecv); total == 0 {
		t.Errorf("DropIdle dropped busyJobs' work wait")
	}
	for _, f := range dropped.Findings {
		if f.Kind == findings.Idle {
			t.Errorf("DropIdle kept an idle finding: %s", f.Title)
		}
	}
}

func TestErrors(t *testing.T) {
	valid := record(t, func() { time.Sleep(time.Millisecond) })
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "parsing execution trace"},
		{"garbage", []byte("not a trace at all\n"), "parsing execution trace"},
		{"truncated", valid[:len(valid)/2], "parsing execution trace"},
		{"header only", valid[:16], "parsing execution trace"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Analyze(context.Background(), bytes.NewReader(c.in), Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		big := record(t, func() {
			for range 200000 {
				runtime.Gosched()
			}
		})
		if _, err := Analyze(ctx, bytes.NewReader(big), Options{}); err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("err = %v, want context canceled", err)
		}
	})
}

func TestUnitsFromRegions(t *testing.T) {
	data := record(t, func() {
		ctx := context.Background()
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rtrace.WithRegion(ctx, "decode", func() {
					for range 20 {
						runtime.Gosched() // runnable again: a scheduling latency inside the unit
					}
				})
			}()
		}
		wg.Wait()
	})
	var last Progress
	res := analyze(t, data, Options{Progress: func(p Progress) { last = p }})
	if last.Events != res.Events || last.Bytes != int64(len(data)) {
		t.Errorf("last progress %+v, want %d events, %d bytes", last, res.Events, len(data))
	}
	// Progress during a long trace (every 64k events), under -race.
	var calls int
	big := record(t, func() {
		for range 100000 {
			runtime.Gosched()
		}
	})
	if _, err := Analyze(context.Background(), bytes.NewReader(big), Options{Progress: func(Progress) { calls++ }}); err != nil {
		t.Fatal(err)
	}
	if calls < 2 {
		t.Errorf("%d progress calls for a %d-byte trace, want several", calls, len(big))
	}
	i := slices.IndexFunc(res.Units, func(u SchedTotal) bool { return u.Name == "decode" })
	if i < 0 {
		t.Fatalf("no unit \"decode\" in %+v", res.Units)
	}
	if u := res.Units[i]; u.Count < 4*20 {
		t.Errorf("unit decode: %d schedulings, want >= 80", u.Count)
	}
	found := false
	for _, s := range res.SchedLatency.Sample {
		if len(s.Label["unit"]) == 1 && s.Label["unit"][0] == "decode" {
			found = true
		}
	}
	if !found {
		t.Error("schedlat profile has no sample labelled unit=decode")
	}
}

func TestAnalyzerAddsTraces(t *testing.T) {
	one := func() []byte {
		return record(t, func() {
			var mu sync.Mutex
			var start time.Time
			mu.Lock()
			done := make(chan struct{})
			go func() { blockMutex(&mu, &start); close(done) }()
			time.Sleep(20 * time.Millisecond)
			mu.Unlock()
			<-done
		})
	}
	a, b := one(), one()
	ra, rb := analyze(t, a, Options{}), analyze(t, b, Options{})
	z := NewAnalyzer(Options{})
	for _, d := range [][]byte{a, b} {
		if err := z.Add(context.Background(), bytes.NewReader(d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Add(context.Background(), strings.NewReader("junk")); err == nil {
		t.Fatal("junk trace accepted")
	}
	r := z.Result()
	if r.Duration != ra.Duration+rb.Duration {
		t.Errorf("duration %v, want %v + %v", r.Duration, ra.Duration, rb.Duration)
	}
	ga, _ := waitIn(ra.OffCPU, pkg+"blockMutex", reasonMutex)
	gb, _ := waitIn(rb.OffCPU, pkg+"blockMutex", reasonMutex)
	if g, _ := waitIn(r.OffCPU, pkg+"blockMutex", reasonMutex); g != ga+gb || g == 0 {
		t.Errorf("mutex wait %v, want %v + %v", g, ga, gb)
	}
	if err := z.Add(context.Background(), bytes.NewReader(a)); err == nil {
		t.Error("Add after Result accepted")
	}
}

func TestOnCPUSamplesAndGC(t *testing.T) {
	var sink [][]byte
	data := record(t, func() {
		if err := pprof.StartCPUProfile(io.Discard); err != nil {
			t.Skipf("CPU profile already running: %v", err)
		}
		spinFor(300 * time.Millisecond)
		for range 3 {
			sink = append(sink, make([]byte, 1<<20))
			runtime.GC()
		}
		pprof.StopCPUProfile()
	})
	_ = sink
	res := analyze(t, data, Options{})
	if res.CPUSamples < 5 {
		t.Errorf("%d CPU samples in 300ms of spinning, want >= 5", res.CPUSamples)
	}
	var spin int64
	for _, s := range res.OnCPU.Sample {
		if stackHas(s, pkg+"spinFor") {
			spin += s.Value[0]
		}
	}
	// The rest is the GC, the tracer and (under -race) the race runtime.
	if spin < 3 || spin*4 < res.CPUSamples {
		t.Errorf("spinFor in %d of %d CPU samples, want at least a quarter", spin, res.CPUSamples)
	}
	if res.GC.Cycles < 3 || res.GC.STWCount < 6 || res.GC.STWTotal <= 0 || len(res.GC.Windows) != res.GC.STWCount {
		t.Errorf("GC %+v, want >= 3 cycles with 2 stop-the-world pauses each", res.GC)
	}
}

func TestDeterministicAndBounded(t *testing.T) {
	data := record(t, func() {
		var wg sync.WaitGroup
		ch := make(chan int)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for v := range ch {
					spinFor(time.Duration(v+i) * time.Microsecond)
				}
			}()
		}
		for i := range 2000 {
			ch <- i % 50
		}
		close(ch)
		wg.Wait()
	})
	encode := func(r *Result) []byte {
		var b bytes.Buffer
		for _, p := range []*profile.Profile{r.OffCPU, r.SchedLatency, r.OnCPU} {
			if err := p.WriteUncompressed(&b); err != nil {
				t.Fatal(err)
			}
		}
		if err := findings.WriteJSON(&b, r.Findings); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	first := encode(analyze(t, data, Options{}))
	for range 3 {
		if !bytes.Equal(encode(analyze(t, data, Options{})), first) {
			t.Fatal("two analyses of one trace differ")
		}
	}

	small := analyze(t, data, Options{MaxStacks: 4, MaxDepth: 2})
	truncated := false
	for _, l := range small.OffCPU.Location {
		if l.Line[0].Function.Name == "[stacks truncated]" {
			truncated = true
		}
	}
	if !truncated {
		t.Error("MaxStacks 4: no [stacks truncated] frame in the off-CPU profile")
	}
	for _, s := range small.OffCPU.Sample {
		if len(s.Location) > 3 { // 2 frames + the reason
			t.Fatalf("MaxDepth 2: sample with %d locations", len(s.Location))
		}
	}
}

//go:noinline
func forceGC() { runtime.GC() }

// TestForcedGCCaller: cycles started by runtime.GC are told from automatic
// ones by the stack the trace records at the start of each cycle, and the GC
// finding names the function that called runtime.GC.
func TestForcedGCCaller(t *testing.T) {
	var sink [][]byte
	data := record(t, func() {
		for range 3 {
			// Garbage between the forced cycles, enough for automatic ones.
			for range 20000 {
				sink = append(sink, make([]byte, 512))
				if len(sink) > 4096 {
					sink = sink[:0]
				}
			}
			forceGC()
		}
	})
	_ = sink
	res := analyze(t, data, Options{})
	if res.GC.Forced != 3 || res.GC.Cycles <= res.GC.Forced {
		t.Errorf("GC %d cycles, %d forced; want 3 forced among more", res.GC.Cycles, res.GC.Forced)
	}
	var gc *findings.Finding
	for i := range res.Findings {
		if res.Findings[i].Kind == findings.GC {
			gc = &res.Findings[i]
		}
	}
	if gc == nil {
		t.Fatalf("no GC finding:\n%s", text(res.Findings))
	}
	if gc.Culprit.Function != pkg+"forceGC" || !strings.Contains(gc.Title, "3 forced by runtime.GC in traceanalysis.forceGC") {
		t.Errorf("GC finding %q, culprit %v; want forceGC named", gc.Title, gc.Culprit)
	}
	if !strings.Contains(gc.Advice, "remove it") {
		t.Errorf("advice %q", gc.Advice)
	}
}
