package probes

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
	"go.uber.org/goleak"
	xtrace "golang.org/x/exp/trace"
)

func TestZeroConfigStartStop(t *testing.T) {
	defer goleak.VerifyNone(t)
	p, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// A second and third Stop return the same result without blocking.
	done := make(chan error, 2)
	go func() { done <- p.Stop() }()
	go func() { done <- p.Stop() }()
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Stop again: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("second Stop blocked")
		}
	}
}

func TestStopReturnsProbeErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	p, err := Start(Config{NoGC: true, NoStarvation: true})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("writing flight recorder snapshot x: disk full")
	p.fail(boom)
	err1 := p.Stop()
	if !errors.Is(err1, boom) {
		t.Fatalf("Stop = %v, want it to carry %v", err1, boom)
	}
	if err2 := p.Stop(); err2 != err1 {
		t.Errorf("second Stop = %v, want the same error %v", err2, err1)
	}
}

func TestOnEventPanicRecovered(t *testing.T) {
	defer goleak.VerifyNone(t)
	p, err := Start(Config{NoGC: true, NoStarvation: true, OnEvent: func(Event) { panic("boom") }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	p.emit(Event{Kind: KindStall})
	if st := p.Stats(); st.EventPanics != 1 || st.Events != 1 {
		t.Errorf("stats after a panicking OnEvent: %+v", st)
	}
}

func TestEventsRingBounded(t *testing.T) {
	defer goleak.VerifyNone(t)
	p, err := Start(Config{NoGC: true, NoStarvation: true, MaxEvents: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	for i := 1; i <= 5; i++ {
		p.emit(Event{Kind: KindStall, Goroutine: int64(i)})
	}
	evs := p.Events()
	if len(evs) != 3 || evs[0].Goroutine != 3 || evs[2].Goroutine != 5 {
		t.Errorf("ring kept %+v, want goroutines 3,4,5", evs)
	}
}

func stallAt(unit string, elapsed time.Duration, report int, done bool) inspect.Stall {
	return inspect.Stall{
		Unit: unit, Goroutine: 42, Started: time.Now().Add(-elapsed), Elapsed: elapsed, Limit: 10 * time.Millisecond,
		State: "runnable", OnCPU: true, Report: report, Done: done,
		Frames: []inspect.Frame{
			{Function: "runtime.asyncPreempt", File: "/usr/local/go/src/runtime/preempt_amd64.s", Line: 46},
			{Function: "example.com/fwd.rewrite", File: "/src/fwd/rewrite.go", Line: 42},
			{Function: "example.com/fwd.(*Forwarder).loop", File: "/src/fwd/fwd.go", Line: 88},
		},
	}
}

func TestOnStallEventsAndFindings(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := newCollector()
	p, err := Start(Config{NoGC: true, NoStarvation: true, OnEvent: c.on})
	if err != nil {
		t.Fatal(err)
	}
	p.OnStall(stallAt("forward", 15*time.Millisecond, 1, false))
	p.OnStall(stallAt("forward", 30*time.Millisecond, 2, false))
	p.OnStall(stallAt("forward", 412*time.Millisecond, 3, true))
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	p.OnStall(stallAt("forward", time.Second, 1, false)) // after Stop: no event, no panic
	evs := c.kind(KindStall)
	if len(evs) != 1 {
		t.Fatalf("got %d stall events, want 1 (the first report): %+v", len(evs), evs)
	}
	e := evs[0]
	if e.Unit != "forward" || e.Goroutine != 42 || len(e.Culprit) != 2 || e.Culprit[0].Function != "example.com/fwd.rewrite" {
		t.Errorf("event %+v", e)
	}
	fs := p.Findings()
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	f := fs[0]
	if f.Kind != findings.Stall || f.Culprit.Line != 42 || f.Unit != "forward" {
		t.Errorf("finding %+v", f)
	}
	if v, _ := evidence(f, "longest"); v != 0.412 {
		t.Errorf("longest = %v, want 0.412 from the Done report", v)
	}
	var b bytes.Buffer
	if err := findings.WriteText(&b, fs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "culprit: example.com/fwd.rewrite (/src/fwd/rewrite.go:42)") {
		t.Errorf("text:\n%s", b.String())
	}
}

func TestFindingsFromStarvationEvents(t *testing.T) {
	loop := []inspect.Frame{{Function: "example.com/fwd.rewrite", File: "/src/fwd/rewrite.go", Line: 42}}
	fs := FindingsFromEvents([]Event{
		{Kind: KindStarvation, Duration: 30 * time.Millisecond, Culprit: loop, Goroutine: 7, Unit: "forward"},
		{Kind: KindStarvation, Duration: 50 * time.Millisecond, Culprit: loop, Goroutine: 7, Unit: "forward"},
		{Kind: KindStarvation, Duration: 25 * time.Millisecond},
		{Kind: KindGC, Duration: time.Millisecond},
	})
	if len(fs) != 2 {
		t.Fatalf("findings %+v", fs)
	}
	top := fs[0]
	if top.Kind != findings.CPUBoundLoop || top.Culprit != loop[0] || top.Goroutine != 7 || top.Unit != "forward" {
		t.Errorf("top finding %+v", top)
	}
	if v, _ := evidence(top, "longest wait for a P"); v != 0.05 {
		t.Errorf("longest wait = %v", v)
	}
	if !strings.Contains(top.Advice, "inspect.Budget") {
		t.Errorf("advice %q", top.Advice)
	}
	if fs[1].Kind != findings.Starvation || fs[1].Culprit.Function != "" {
		t.Errorf("unnamed starvation finding %+v", fs[1])
	}
}

// readTrace parses a whole execution trace and counts its events.
func readTrace(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := xtrace.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n := 0
	for {
		_, err := r.ReadEvent()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("%s: event %d: %v", path, n, err)
		}
		n++
	}
}

func snapshots(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "hotloop-*.trace"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFlightRecorderSnapshotOnStarvation(t *testing.T) {
	defer goleak.VerifyNone(t)
	withProcs(t, 2)
	dir := t.TempDir()
	c := newCollector()
	var stop atomic.Bool
	done := make(chan struct{})
	spinning.Store(0)
	for i := 0; i < 4; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			spinArith(&stop)
		}()
	}
	waitSpinning(t, 4)
	p, err := Start(Config{OnEvent: c.on, NoGC: true, DumpInterval: 50 * time.Millisecond,
		FlightRecorder: FlightRecorderConfig{Dir: dir, MinAge: time.Second, MaxBytes: 4 << 20, MinInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	// Several starvation rounds, one snapshot (MinInterval is an hour).
	evs := c.waitFor(t, KindStarvation, 12, 20*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for p.Stats().Snapshots == 0 && time.Now().Before(deadline) {
		c.waitFor(t, "never", 1, 20*time.Millisecond)
	}
	stop.Store(true)
	for i := 0; i < 4; i++ {
		<-done
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	files := snapshots(t, dir)
	t.Logf("%d starvation events, stats %+v, files %v", len(evs), st, files)
	if len(files) != 1 {
		t.Fatalf("got %d snapshot files, want exactly 1 (rate limit): %v", len(files), files)
	}
	if !strings.Contains(filepath.Base(files[0]), "starvation") {
		t.Errorf("snapshot name %s does not say why", files[0])
	}
	if n := readTrace(t, files[0]); n == 0 {
		t.Errorf("snapshot %s has no events", files[0])
	}
	if len(evs) > 4 && st.SnapsLimited == 0 {
		t.Errorf("%d events but no snapshot was rate-limited: %+v", len(evs), st)
	}
	tmp, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(tmp) > 0 {
		t.Errorf("temp files left: %v", tmp)
	}
}

func TestFlightRecorderCapAndManualSnapshot(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	// A foreign file in the directory is never touched.
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Start(Config{NoGC: true, NoStarvation: true,
		FlightRecorder: FlightRecorderConfig{Dir: dir, MinAge: time.Second, MaxSnapshots: 2}})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for i := 0; i < 4; i++ {
		path, err := p.SnapshotTrace("manual")
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	// A second flight recorder in the same process is refused, with a reason.
	if _, err := Start(Config{NoGC: true, NoStarvation: true, FlightRecorder: FlightRecorderConfig{Dir: dir}}); err == nil || !strings.Contains(err.Error(), "flight recorder") {
		t.Errorf("second flight recorder: err = %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SnapshotTrace("late"); err == nil {
		t.Error("SnapshotTrace after Stop: want error")
	}
	files := snapshots(t, dir)
	if len(files) != 2 || files[0] != paths[2] || files[1] != paths[3] {
		t.Fatalf("kept %v, want the newest two of %v", files, paths)
	}
	for _, f := range files {
		readTrace(t, f)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep.txt")); err != nil {
		t.Errorf("foreign file removed: %v", err)
	}
	if _, err := Start(Config{NoGC: true, NoStarvation: true, FlightRecorder: FlightRecorderConfig{Dir: filepath.Join(dir, "keep.txt", "sub")}}); err == nil {
		t.Error("flight recorder in an impossible directory: want error")
	}
}

func TestSnapshotTraceOff(t *testing.T) {
	defer goleak.VerifyNone(t)
	p, err := Start(Config{NoGC: true, NoStarvation: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if _, err := p.SnapshotTrace("x"); err == nil {
		t.Error("want error with the flight recorder off")
	}
}

func TestFlightRecorderSnapshotOnStall(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	p, err := Start(Config{NoGC: true, NoStarvation: true,
		FlightRecorder: FlightRecorderConfig{Dir: dir, MinAge: time.Second, MinInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	p.OnStall(stallAt("forward", 15*time.Millisecond, 1, false))
	deadline := time.Now().Add(20 * time.Second)
	for p.Stats().Snapshots == 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	p.OnStall(stallAt("decode", 15*time.Millisecond, 1, false)) // within MinInterval: no second file
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	files := snapshots(t, dir)
	if len(files) != 1 || !strings.Contains(files[0], "-stall.trace") {
		t.Fatalf("snapshots %v, want one named for the stall", files)
	}
	readTrace(t, files[0])
}

func TestSentinelDrivesGCWindows(t *testing.T) {
	defer goleak.VerifyNone(t)
	p, err := Start(Config{GCWindow: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	windows := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.gc == nil {
			return 0
		}
		return p.gc.windows
	}
	deadline := time.Now().Add(20 * time.Second)
	for windows() < 5 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if w := windows(); w < 5 {
		t.Fatalf("GC probe closed %d windows of 20ms in up to 20s with the sentinel driving it", w)
	}
	if st := p.Stats(); st.SentinelTicks < 5 {
		t.Errorf("sentinel ticked %d times", st.SentinelTicks)
	}
}
