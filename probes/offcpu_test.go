package probes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/trace"
	"slices"
	"strconv"
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
	r, err := CaptureOffCPU(context.Background(), 600*time.Millisecond, OffCPUOptions{Burst: 100 * time.Millisecond, Every: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Three bursts of 100ms: traced time is their sum, not the 600ms.
	if r.Duration < 250*time.Millisecond || r.Duration > 350*time.Millisecond {
		t.Errorf("traced %v, want about 300ms (3 bursts of 100ms)", r.Duration)
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Errorf("capture returned after %v, want the bursts spread over about 600ms", el)
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
	// The sleeper sleeps nearly all the time; waits begun before a burst
	// lose their stack, so at least half of the traced time is attributed.
	if slept < r.Duration/2 || slept > r.Duration {
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

// echoServer serves TCP echo on loopback until ln is closed.
func echoServer(ln net.Listener, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// TestEchoClientProcess is not a test: it is the load generator of
// TestOffCPUOverhead, run in a child process so that only the server is
// traced. It prints the number of round trips it completed.
func TestEchoClientProcess(t *testing.T) {
	addr := os.Getenv("HOTLOOP_ECHO_ADDR")
	if addr == "" {
		t.Skip("helper process for TestOffCPUOverhead")
	}
	conns, _ := strconv.Atoi(os.Getenv("HOTLOOP_ECHO_CONNS"))
	window, _ := time.ParseDuration(os.Getenv("HOTLOOP_ECHO_WINDOW"))
	size, _ := strconv.Atoi(os.Getenv("HOTLOOP_ECHO_SIZE"))
	var total int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(window)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, max(size, 1))
			n := int64(0)
			for time.Now().Before(deadline) {
				if _, err := c.Write(buf); err != nil {
					break
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					break
				}
				n++
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	fmt.Printf("roundtrips %d\n", total)
}

// TestOffCPUOverhead measures the throughput of a loopback TCP echo server
// (in this process) driven by a client process, with and without an off-CPU
// capture running, in interleaved rounds. Set HOTLOOP_OVERHEAD=1 to run it;
// HOTLOOP_ECHO_SIZE sets the message size (default 64 bytes). It takes about
// a minute and prints the figures for BENCHMARKS.md, with the runtime's
// tracer alone (writing to io.Discard) as the anchor.
func TestOffCPUOverhead(t *testing.T) {
	if os.Getenv("HOTLOOP_OVERHEAD") == "" {
		t.Skip("set HOTLOOP_OVERHEAD=1 to measure the off-CPU capture's cost on an echo server")
	}
	const (
		rounds = 8
		conns  = 16
		window = 2 * time.Second
	)
	// HOTLOOP_OVERHEAD_BURST=100ms/1s measures the burst mode.
	var burst, every time.Duration
	if v := os.Getenv("HOTLOOP_OVERHEAD_BURST"); v != "" {
		b, e, _ := strings.Cut(v, "/")
		var err1, err2 error
		burst, err1 = time.ParseDuration(b)
		every, err2 = time.ParseDuration(e)
		if err1 != nil || err2 != nil {
			t.Fatalf("HOTLOOP_OVERHEAD_BURST=%q: want BURST/EVERY, e.g. 100ms/1s", v)
		}
	}
	size := 64
	if v := os.Getenv("HOTLOOP_ECHO_SIZE"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go echoServer(ln, &wg)
	defer func() { ln.Close(); wg.Wait() }()

	client := func() float64 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEchoClientProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "HOTLOOP_ECHO_ADDR="+ln.Addr().String(),
			"HOTLOOP_ECHO_CONNS="+strconv.Itoa(conns), "HOTLOOP_ECHO_WINDOW="+window.String(),
			"HOTLOOP_ECHO_SIZE="+strconv.Itoa(size))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("client: %v\n%s", err, out)
		}
		i := bytes.Index(out, []byte("roundtrips "))
		if i < 0 {
			t.Fatalf("client output: %s", out)
		}
		var n int64
		fmt.Sscanf(string(out[i:]), "roundtrips %d", &n)
		return float64(n) / window.Seconds()
	}
	// Paired rounds, the order alternating, so the machine's drifting load
	// (this box is shared) hits both sides alike: each round gives the
	// ratio of the capture's throughput to the plain server's.
	var base, tracer, traced, ratioTracer, ratioCapture []float64
	var traceBytes int64
	runTracer := func() float64 {
		if err := trace.Start(io.Discard); err != nil {
			t.Fatal(err)
		}
		defer trace.Stop()
		return client()
	}
	runCapture := func() float64 {
		done := make(chan error, 1)
		go func() {
			r, err := CaptureOffCPU(context.Background(), window+time.Second, OffCPUOptions{Burst: burst, Every: every})
			if err == nil {
				traceBytes = r.TraceBytes
			}
			done <- err
		}()
		waitTracing(t)
		v := client()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := range rounds {
		var b, r, c float64
		if i%2 == 0 {
			b, r, c = client(), runTracer(), runCapture()
		} else {
			c, r, b = runCapture(), runTracer(), client()
		}
		base, tracer, traced = append(base, b), append(tracer, r), append(traced, c)
		ratioTracer, ratioCapture = append(ratioTracer, r/b), append(ratioCapture, c/b)
	}
	rt, rc := median(ratioTracer), median(ratioCapture)
	t.Logf("bursts %v every %v (0: continuous); echo over loopback, %d conns of %d-byte messages, %d rounds of %v; "+
		"round trips/s without capture %v; runtime tracer alone (io.Discard) %v, median ratio %.3f; "+
		"with CaptureOffCPU %v, median ratio %.3f (cost %.1f%%); trace %.1f MB per capture",
		burst, every, conns, size, rounds, window, rates(base), rates(tracer), rt,
		rates(traced), rc, 100*(1-rc), float64(traceBytes)/1e6)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rates(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
