package probes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"time"

	"github.com/google/pprof/profile"
	"github.com/hotloop/hotloop/internal/traceanalysis"
)

// OffCPUOptions tune CaptureOffCPU. The zero value works.
type OffCPUOptions struct {
	// NoIdle leaves idle waits out of the off-CPU profile and the findings:
	// goroutines waiting for work (an accept loop, an idle connection's read,
	// a channel receive after which they do no work) while Ps were free.
	// Idle samples otherwise carry the label idle="true".
	NoIdle bool
	// CPUSamples also runs a CPU profile during the capture, so OnCPU has
	// samples (the trace records them). Skipped when a CPU profile is already
	// running. Cost: the CPU profiler's, about 1% at 100 Hz.
	CPUSamples bool
	// TraceTo, if set, receives a copy of the raw execution trace, for
	// `go tool trace` or `hotloop analyze`.
	TraceTo io.Writer
	// MaxTraceBytes caps the trace spooled to disk; the capture stops early
	// when it is reached (Result.Truncated). Default 256 MiB: a busy server
	// writes a few MB of trace per second.
	MaxTraceBytes int64
	// TempDir is where the trace is spooled during the capture; default
	// os.TempDir(). The file is removed before CaptureOffCPU returns.
	TempDir string
	// Burst and Every, when 0 < Burst < Every, trace in bursts: Burst of
	// tracing at the start of every Every, for d in all, each burst analysed
	// after it ends and all of them added into one result. The tracer's cost
	// (which on a scheduler-bound server is far above 3%) is then paid
	// Burst/Every of the time. The price: a wait longer than a burst loses
	// its stack (the runtime records none for a goroutine already waiting
	// when a trace starts). TraceTo cannot be used with bursts.
	Burst, Every time.Duration
}

// OffCPUResult is what one capture found.
type OffCPUResult struct {
	Duration   time.Duration // time traced (with bursts, their sum)
	Bursts     int           // traces taken: 1, or the number of bursts
	TraceBytes int64
	Truncated  bool // stopped early at MaxTraceBytes

	// Profiles (write them with their Write method: gzipped pprof):
	// off-CPU nanoseconds with the wait reason as the root frame and labels
	// reason and idle; scheduling latency by goroutine creation site; the
	// trace's CPU samples (empty unless CPUSamples or a CPU profile ran).
	OffCPU, SchedLatency, OnCPU *profile.Profile

	// Findings, ranked worst first.
	Findings []Finding
	// Waits are the off-CPU totals per wait reason, largest first.
	Waits []OffCPUWait
}

// OffCPUWait sums the waits of one reason.
type OffCPUWait struct {
	Reason    string        // the runtime's words: "chan receive", "IO wait", "sync.Mutex.Lock", ...
	Count     int64         // waits
	Total     time.Duration // time spent waiting
	IdleTotal time.Duration // the part of Total that was idle
}

// ErrTracing is returned by CaptureOffCPU when execution tracing is already
// on in this process (another runtime/trace.Start; a flight recorder does
// not conflict).
var ErrTracing = errors.New("execution tracing is already active in this process")

// captureMu makes concurrent captures in one process wait for each other
// rather than fail on the runtime's single tracer.
var captureMu sync.Mutex

// CaptureOffCPU records an execution trace of this process for d (or until
// ctx is done: the capture then stops early and what was recorded is still
// analysed) and returns where goroutines waited and why.
//
// How: runtime/trace writes the trace to a temp file (memory stays flat
// however busy the process is); after the capture the file is analysed in
// one streaming pass (internal/traceanalysis). Cost while capturing: the
// execution tracer's, a few percent of throughput on a scheduler-heavy
// server (BENCHMARKS.md has the measured figure), plus the disk writes.
// The analysis runs after the capture and costs about one CPU-second per
// 20-40 MB of trace.
func CaptureOffCPU(ctx context.Context, d time.Duration, opt OffCPUOptions) (*OffCPUResult, error) {
	if d <= 0 {
		return nil, fmt.Errorf("capturing off-CPU profile: duration %v: want > 0", d)
	}
	if opt.MaxTraceBytes <= 0 {
		opt.MaxTraceBytes = 256 << 20
	}
	bursts := opt.Burst > 0 && opt.Every > opt.Burst
	if bursts && opt.TraceTo != nil {
		return nil, errors.New("capturing off-CPU profile: TraceTo needs one trace, not bursts")
	}
	captureMu.Lock()
	defer captureMu.Unlock()

	spool, err := os.CreateTemp(opt.TempDir, "hotloop-offcpu-*.trace")
	if err != nil {
		return nil, fmt.Errorf("capturing off-CPU profile: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()

	z := traceanalysis.NewAnalyzer(traceanalysis.Options{DropIdle: opt.NoIdle})
	var total int64
	truncated := false
	n := 0
	start := time.Now()
	for {
		burst := d
		if bursts {
			burst = min(opt.Burst, d-time.Since(start))
		}
		size, full, err := captureOne(ctx, spool, burst, opt)
		if err != nil {
			return nil, err
		}
		total += size
		truncated = truncated || full
		n++
		if opt.TraceTo != nil {
			if _, err := spool.Seek(0, io.SeekStart); err != nil {
				return nil, fmt.Errorf("capturing off-CPU profile: %w", err)
			}
			if _, err := io.Copy(opt.TraceTo, spool); err != nil {
				return nil, fmt.Errorf("capturing off-CPU profile: copying the trace: %w", err)
			}
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("capturing off-CPU profile: %w", err)
		}
		// The capture is over; a cancelled ctx must not throw away what it
		// recorded.
		if err := z.Add(context.WithoutCancel(ctx), bufio.NewReaderSize(spool, 1<<20)); err != nil {
			return nil, fmt.Errorf("capturing off-CPU profile: %w", err)
		}
		next := opt.Every * time.Duration(1+time.Since(start)/max(opt.Every, 1))
		if !bursts || full || ctx.Err() != nil || next >= d {
			break
		}
		if err := spool.Truncate(0); err != nil {
			return nil, fmt.Errorf("capturing off-CPU profile: %w", err)
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("capturing off-CPU profile: %w", err)
		}
		t := time.NewTimer(time.Until(start.Add(next)))
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if ctx.Err() != nil {
			break
		}
	}
	res := z.Result()
	out := &OffCPUResult{
		Duration:     res.Duration,
		TraceBytes:   total,
		Bursts:       n,
		Truncated:    truncated,
		OffCPU:       res.OffCPU,
		SchedLatency: res.SchedLatency,
		OnCPU:        res.OnCPU,
		Findings:     res.Findings,
	}
	for _, wt := range res.Waits {
		out.Waits = append(out.Waits, OffCPUWait{Reason: wt.Reason, Count: wt.Count, Total: wt.Total, IdleTotal: wt.IdleTotal})
	}
	return out, nil
}

// captureOne traces this process into spool for d, or until ctx is done or
// the trace reaches opt.MaxTraceBytes (full).
func captureOne(ctx context.Context, spool *os.File, d time.Duration, opt OffCPUOptions) (n int64, full bool, err error) {
	w := &capWriter{w: bufio.NewWriterSize(spool, 1<<20), max: opt.MaxTraceBytes, full: make(chan struct{})}
	if err := trace.Start(w); err != nil {
		return 0, false, fmt.Errorf("capturing off-CPU profile: %w (%v)", ErrTracing, err)
	}
	cpu := opt.CPUSamples && pprof.StartCPUProfile(io.Discard) == nil
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-ctx.Done():
	case <-w.full:
		full = true
	}
	timer.Stop()
	if cpu {
		pprof.StopCPUProfile()
	}
	trace.Stop() // returns once the runtime has written everything to w
	if err := w.flush(); err != nil {
		return 0, false, fmt.Errorf("capturing off-CPU profile: spooling the trace: %w", err)
	}
	return w.n, full, nil
}

// capWriter counts what the tracer writes and signals full once past max;
// it keeps accepting data so that the trace stays well-formed up to Stop.
type capWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	n    int64
	max  int64
	full chan struct{}
	err  error
}

func (c *capWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	if c.n >= c.max && c.max > 0 {
		c.max = 0
		close(c.full)
	}
	return n, err
}

func (c *capWriter) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}
