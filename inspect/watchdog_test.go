package inspect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// stallRecorder collects reports on a channel big enough never to block the
// watchdog in these tests.
type stallRecorder struct{ ch chan Stall }

func newRecorder() *stallRecorder   { return &stallRecorder{ch: make(chan Stall, 256)} }
func (r *stallRecorder) on(s Stall) { r.ch <- s }
func (r *stallRecorder) next(t *testing.T) Stall {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("no stall report within 20s")
		return Stall{}
	}
}

// Per-state tests: each unit blocks in its own way until the first report
// has been received, so the report is taken while it is stuck, then the unit
// is released and the final report is checked.

//go:noinline
func spinUntil(stop *atomic.Bool) int {
	n := 0
	for !stop.Load() {
		n++
	}
	return n
}

func TestStallStates(t *testing.T) {
	defer goleak.VerifyNone(t)
	var mu sync.Mutex
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	tests := []struct {
		name    string
		state   string
		onCPU   bool
		topFunc string                              // substring of the first non-runtime frame
		run     func(release <-chan struct{}) error // the unit's body; returns when released
		setup   func(t *testing.T) (release func()) // optional
	}{
		{
			name: "busy loop", state: "runnable", onCPU: true, topFunc: "inspect.spinUntil",
			run: func(release <-chan struct{}) error {
				var stop atomic.Bool
				go func() { <-release; stop.Store(true) }()
				spinUntil(&stop)
				return nil
			},
		},
		{
			name: "channel", state: "chan receive", topFunc: "inspect.TestStallStates",
			run: func(release <-chan struct{}) error { <-release; return nil },
		},
		{
			name: "mutex", state: "sync.Mutex.Lock", topFunc: "sync.(*Mutex).Lock",
			run: func(release <-chan struct{}) error {
				mu.Lock()
				mu.Unlock() // taking the lock is the point
				return nil
			},
		},
		{
			name: "socket read", state: "IO wait", topFunc: "internal/poll",
			run: func(release <-chan struct{}) error {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					return err
				}
				defer c.Close()
				srv, err := ln.Accept()
				if err != nil {
					return err
				}
				go func() { <-release; srv.Write([]byte("x")); srv.Close() }()
				_, err = io.ReadFull(c, make([]byte, 1))
				return err
			},
		},
		{
			name: "sleep", state: "sleep", topFunc: "time.Sleep",
			run: func(release <-chan struct{}) error {
				time.Sleep(time.Second) // long enough for a loaded machine's watchdog
				return nil
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			m := NewMonitor(Config{Slow: 50 * time.Millisecond, OnStall: rec.on})
			defer m.Close()
			release := make(chan struct{})
			if tc.name == "mutex" {
				mu.Lock()
				go func() { <-release; mu.Unlock() }()
			}
			errc := make(chan error, 1)
			go func() {
				errc <- m.Do(context.Background(), "unit-"+tc.name, func(context.Context) error { return tc.run(release) })
			}()
			first := rec.next(t)
			close(release)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if first.Done {
				t.Fatalf("first report is the final one: %+v", first)
			}
			if first.State != tc.state {
				t.Errorf("state = %q, want %q\n%s", first.State, tc.state, first.Stack)
			}
			if first.OnCPU != tc.onCPU {
				t.Errorf("OnCPU = %v, want %v", first.OnCPU, tc.onCPU)
			}
			if first.Unit != "unit-"+tc.name || first.Goroutine == 0 || first.Limit != 50*time.Millisecond {
				t.Errorf("report = %+v", first)
			}
			if first.Elapsed < first.Limit {
				t.Errorf("reported after %v, before the limit %v", first.Elapsed, first.Limit)
			}
			// Due by 1.5x the limit; the slack is for a loaded machine's
			// scheduler, not for the watchdog.
			if max := first.Limit*3/2 + 2*time.Second; first.Elapsed > max {
				t.Errorf("first report after %v, want <= %v", first.Elapsed, max)
			}
			if !topFramesContain(first.Frames, tc.topFunc, 3) {
				t.Errorf("top frames %v lack %q", first.Frames, tc.topFunc)
			}
			for _, f := range first.Frames {
				if strings.HasPrefix(f.Function, selfPkg) && !strings.HasSuffix(f.File, "_test.go") {
					t.Errorf("inspect's own frame kept: %v", f)
				}
			}
			// Later reports until the final one; all about the same run.
			for last := first; !last.Done; {
				s := rec.next(t)
				if s.Goroutine != first.Goroutine || s.Report != last.Report+1 {
					t.Fatalf("report %+v does not follow %+v", s, last)
				}
				last = s
			}
		})
	}
}

func topFramesContain(frames []Frame, sub string, n int) bool {
	for i, f := range frames {
		if i >= n+2 { // allow a couple of runtime frames above
			break
		}
		if strings.Contains(f.Function, sub) || strings.Contains(f.File, sub) {
			return true
		}
	}
	return false
}

func TestFirstReportBeforeEnd(t *testing.T) {
	defer goleak.VerifyNone(t)
	reported := make(chan Stall, 1)
	var once sync.Once
	var all []Stall
	var allMu sync.Mutex
	m := NewMonitor(Config{Slow: 30 * time.Millisecond, OnStall: func(s Stall) {
		allMu.Lock()
		if n := len(all); n > 0 && all[n-1].Done {
			t.Errorf("report after the final one: %+v", s)
		}
		all = append(all, s)
		allMu.Unlock()
		once.Do(func() { reported <- s })
	}})
	u := m.NewUnit("waits-for-its-report")
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := u.Begin(context.Background())
		<-reported // cannot finish until the watchdog has reported it
		r.End()
	}()
	<-done
	m.Close()
	allMu.Lock()
	defer allMu.Unlock()
	if len(all) < 2 || all[0].Done || !all[len(all)-1].Done {
		t.Fatalf("reports = %+v, want a first one while running and a Done one", all)
	}
	if st := m.Snapshot()[0]; st.Stalls != 1 || st.Slow != 1 || st.Count != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestGeometricReports(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := newRecorder()
	limit := 20 * time.Millisecond
	m := NewMonitor(Config{Slow: limit, OnStall: rec.on})
	defer m.Close()
	release := make(chan struct{})
	go m.Do(context.Background(), "slow", func(context.Context) error { <-release; return nil })
	for i := 1; i <= 3; i++ {
		s := rec.next(t)
		if s.Report != i || s.Done {
			t.Fatalf("report %d = %+v", i, s)
		}
		if min := limit << (i - 1); s.Elapsed < min {
			t.Errorf("report %d at %v, want >= %v", i, s.Elapsed, min)
		}
	}
	close(release)
	for s := rec.next(t); !s.Done; s = rec.next(t) {
	}
}

func TestFastUnitsNeverReported(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := newRecorder()
	m := NewMonitor(Config{
		Slow:      500 * time.Millisecond,
		SlowUnits: map[string]time.Duration{"hold": time.Hour},
		OnStall:   rec.on,
	})
	defer m.Close()
	u := m.NewUnit("fast")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				r := u.Begin(context.Background())
				if i%50 == 0 {
					time.Sleep(time.Millisecond) // some work that blocks briefly
				}
				r.End()
			}
		}()
	}
	// Let the watchdog scan several times while units run and after.
	start := m.scans.Load()
	wg.Wait()
	hold := m.Begin(context.Background(), "hold") // keeps the watchdog alive
	waitFor(t, func() bool { return m.scans.Load() >= start+5 })
	hold.End()
	select {
	case s := <-rec.ch:
		t.Fatalf("fast unit reported: %+v", s)
	default:
	}
	if d := m.dumps.Load(); d != 0 {
		t.Errorf("%d goroutine dumps while nothing was slow", d)
	}
	if st := m.Snapshot()[0]; st.Count != 1600 || st.Slow != 0 || st.Stalls != 0 || st.InFlight != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// waitFor polls cond with a deadline: for conditions that have no channel.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSlowUnitsOverride(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := newRecorder()
	m := NewMonitor(Config{
		Slow:      20 * time.Millisecond,
		SlowUnits: map[string]time.Duration{"patient": time.Hour},
		OnStall:   rec.on,
	})
	defer m.Close()
	release := make(chan struct{})
	var wg sync.WaitGroup
	for _, name := range []string{"patient", "impatient"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Do(context.Background(), name, func(context.Context) error { <-release; return nil })
		}()
	}
	s := rec.next(t)
	// Once "impatient" is reported, wait for two more scans: "patient" has
	// been blocked just as long and must not be reported.
	n := m.scans.Load()
	waitFor(t, func() bool { return m.scans.Load() >= n+2 })
	close(release)
	wg.Wait()
	if s.Unit != "impatient" {
		t.Fatalf("reported %q", s.Unit)
	}
	for len(rec.ch) > 0 {
		if s := <-rec.ch; s.Unit != "impatient" {
			t.Fatalf("reported %+v", s)
		}
	}
	for _, st := range m.Snapshot() {
		want := map[string]time.Duration{"patient": time.Hour, "impatient": 20 * time.Millisecond}[st.Name]
		if st.Limit != want {
			t.Errorf("%s limit = %v, want %v", st.Name, st.Limit, want)
		}
	}
}

func TestOnStallPanicRecovered(t *testing.T) {
	defer goleak.VerifyNone(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	got := make(chan Stall, 16)
	calls := 0
	m := NewMonitor(Config{
		Slow:   20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)),
		OnStall: func(s Stall) {
			calls++
			if calls == 1 {
				panic("sink broke")
			}
			got <- s
		},
	})
	defer m.Close()
	release := make(chan struct{})
	go m.Do(context.Background(), "u", func(context.Context) error { <-release; return nil })
	s := <-got // the second report still arrives
	close(release)
	if s.Report != 2 {
		t.Errorf("report = %+v", s)
	}
	for s := range got {
		if s.Done {
			break
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "OnStall panicked") || !strings.Contains(logs.String(), "sink broke") {
		t.Errorf("log = %q", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestDefaultSinkLogs(t *testing.T) {
	defer goleak.VerifyNone(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	m := NewMonitor(Config{Slow: 20 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))})
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Do(context.Background(), "logged", func(context.Context) error { <-release; return nil })
	}()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return strings.Contains(logs.String(), "unit stalled") })
	close(release)
	<-done
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "stalled unit finished")
	})
	m.Close()
	mu.Lock()
	defer mu.Unlock()
	first, _, _ := strings.Cut(logs.String(), "\n")
	for _, want := range []string{`"unit":"logged"`, `"state":"chan receive"`, `"on_cpu":false`, `"at":"github.com/hotloop/hotloop/inspect.TestDefaultSinkLogs`} {
		if !strings.Contains(first, want) {
			t.Errorf("log line %s lacks %s", first, want)
		}
	}
}

func TestWatchdogIdleExitAndRestart(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := newRecorder()
	m := NewMonitor(Config{Slow: 20 * time.Millisecond, OnStall: rec.on})
	defer m.Close()
	if m.wdRunning.Load() {
		t.Fatal("watchdog running before any unit")
	}
	m.Begin(context.Background(), "x").End()
	if !m.wdRunning.Load() {
		t.Fatal("watchdog not started by the first unit")
	}
	waitFor(t, func() bool { return !m.wdRunning.Load() })
	// A new stuck unit restarts it and is reported.
	release := make(chan struct{})
	go m.Do(context.Background(), "x", func(context.Context) error { <-release; return nil })
	if s := rec.next(t); s.Unit != "x" || s.State != "chan receive" {
		t.Errorf("report after restart = %+v", s)
	}
	close(release)
	for s := rec.next(t); !s.Done; s = rec.next(t) {
	}
}

func TestCloseIdempotent(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := NewMonitor(Config{})
	r := m.Begin(context.Background(), "x")
	m.Close()
	m.Close()
	r.End() // still recorded after Close
	m.Begin(context.Background(), "x").End()
	if st := m.Snapshot()[0]; st.Count != 2 {
		t.Errorf("count = %d", st.Count)
	}
}

func TestGoroutineID(t *testing.T) {
	if !haveGetg {
		t.Skip("no getg on " + runtime.GOARCH)
	}
	initGoid()
	if goidOffset == 0 {
		t.Fatal("goroutine id offset not calibrated")
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, want := curGoid(), slowGoid(); got != want {
				t.Errorf("curGoid = %d, want %d", got, want)
			}
		}()
	}
	wg.Wait()
}

func TestStallsRing(t *testing.T) {
	m := NewMonitor(Config{MaxStalls: 3, OnStall: func(Stall) {}})
	defer m.Close()
	for i := 0; i < 5; i++ {
		m.deliver(Stall{Unit: string(rune('a' + i))})
	}
	var got []string
	for _, s := range m.Stalls() {
		got = append(got, s.Unit)
	}
	if strings.Join(got, "") != "cde" {
		t.Errorf("kept %v", got)
	}
}

var errBoom = errors.New("boom")

func TestDoReturnsError(t *testing.T) {
	m := NewMonitor(Config{})
	defer m.Close()
	if err := m.Do(context.Background(), "x", func(context.Context) error { return errBoom }); err != errBoom {
		t.Errorf("err = %v", err)
	}
}
