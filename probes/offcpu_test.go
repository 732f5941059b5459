package probes

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotloop/hotloop/internal/findings"
	"go.uber.org/goleak"
)

// waitTracing polls until execution tracing is on, or fails after 10s.
func waitTracing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !trace.IsEnabled() {
		if time.Now().After(deadline) {
			t.Fatal("tracing did not start within 10s")
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
}

//go:noinline
func offcpuMutexWaiter(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock() //nolint:staticcheck // the wait is the point
}

func TestCaptureOffCPU(t *testing.T) {
	defer goleak.VerifyNone(t)
	type result struct {
		r   *OffCPUResult
		err error
	}
	done := make(chan result, 1)
	var raw bytes.Buffer
	go func() {
		r, err := CaptureOffCPU(context.Background(), 300*time.Millisecond, OffCPUOptions{TraceTo: &raw})
		done <- result{r, err}
	}()
	waitTracing(t)
	// Waiters that block inside the capture (goroutines already blocked when
	// a trace starts are recorded without a stack).
	var mu sync.Mutex
	var wg sync.WaitGroup
	mu.Lock()
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); offcpuMutexWaiter(&mu) }()
	}
	time.Sleep(50 * time.Millisecond) // how long they wait
	mu.Unlock()
	wg.Wait()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	r := res.r
	if r.TraceBytes == 0 || int64(raw.Len()) != r.TraceBytes {
		t.Errorf("TraceBytes %d, TraceTo got %d bytes", r.TraceBytes, raw.Len())
	}
	const fn = "github.com/hotloop/hotloop/probes.offcpuMutexWaiter"
	var waited time.Duration
	for _, s := range r.OffCPU.Sample {
		if s.Label["reason"][0] != "sync.Mutex.Lock" {
			continue
		}
		for _, l := range s.Location {
			if l.Line[0].Function.Name == fn {
				waited += time.Duration(s.Value[1])
				break
			}
		}
	}
	// Three waiters, each blocked from its Lock to the Unlock 50ms after
	// they started.
	if waited < 3*40*time.Millisecond {
		t.Errorf("off-CPU in %s on sync.Mutex.Lock = %v, want >= 120ms", fn, waited)
	}
	if !slices.ContainsFunc(r.Findings, func(f Finding) bool {
		return f.Kind == findings.BlockedMutex && f.Culprit.Function == fn
	}) {
		var b strings.Builder
		_ = findings.WriteText(&b, r.Findings)
		t.Errorf("no blocked-on-mutex finding names %s:\n%s", fn, b.String())
	}
	if !slices.ContainsFunc(r.Waits, func(w OffCPUWait) bool { return w.Reason == "sync.Mutex.Lock" && w.Count >= 3 }) {
		t.Errorf("Waits lack 3 sync.Mutex.Lock waits: %+v", r.Waits)
	}
}

func TestCaptureOffCPUCancelled(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var r *OffCPUResult
	go func() {
		var err error
		r, err = CaptureOffCPU(ctx, time.Hour, OffCPUOptions{})
		done <- err
	}()
	waitTracing(t)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cancelled capture: %v, want the partial result", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancelled capture did not return")
	}
	if r == nil || r.OffCPU == nil || r.Duration <= 0 || r.Duration > time.Minute {
		t.Fatalf("cancelled capture result %+v", r)
	}
}

//go:noinline
func offcpuSleeper(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCaptureOffCPUBursts(t *testing.T) {
	defer goleak.VerifyNone(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { offcpuSleeper(stop); close(done) }()
	defer func() { close(stop); <-done }()
	start := time.Now()
	r, err := CaptureOffCPU(context.Background(), 600*time.Millisecond, OffCPUOptions{Burst: 50 * time.Millisecond, Every: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Bursts at 0, 200 and 400ms, of 50ms each; a burst also spans
	// starting and stopping the tracer, which on a loaded machine can
	// take long enough to skip the next period.
	if r.Bursts < 2 || r.Bursts > 3 || r.Duration < time.Duration(r.Bursts)*50*time.Millisecond {
		t.Errorf("%d bursts, traced %v; want 2-3 bursts of at least 50ms", r.Bursts, r.Duration)
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Errorf("capture returned after %v, want the last burst to start at 400ms", el)
	}
	const fn = "github.com/hotloop/hotloop/probes.offcpuSleeper"
	var slept time.Duration
	for _, s := range r.OffCPU.Sample {
		for _, l := range s.Location {
			if l.Line[0].Function.Name == fn && s.Label["reason"][0] == "sleep" {
				slept += time.Duration(s.Value[1])
				break
			}
		}
	}
	// The sleeper sleeps nearly all the time, but a burst's traced span
	// includes starting and stopping the tracer and a wait begun before the
	// burst has no stack: a loose lower bound.
	if slept < r.Duration/10 || slept > r.Duration {
		t.Errorf("sleep in %s: %v of %v traced", fn, slept, r.Duration)
	}
	if _, err := CaptureOffCPU(context.Background(), time.Second, OffCPUOptions{Burst: time.Millisecond, Every: time.Second, TraceTo: io.Discard}); err == nil {
		t.Error("TraceTo with bursts accepted")
	}
}

func TestCaptureOffCPUAlreadyTracing(t *testing.T) {
	if err := trace.Start(io.Discard); err != nil {
		t.Fatal(err)
	}
	defer trace.Stop()
	_, err := CaptureOffCPU(context.Background(), time.Millisecond, OffCPUOptions{})
	if !errors.Is(err, ErrTracing) || !strings.HasPrefix(err.Error(), "capturing off-CPU profile: ") {
		t.Fatalf("err = %v, want ErrTracing named with the operation", err)
	}
}

func TestCaptureOffCPUBadDuration(t *testing.T) {
	if _, err := CaptureOffCPU(context.Background(), 0, OffCPUOptions{}); err == nil {
		t.Fatal("zero duration accepted")
	}
}
