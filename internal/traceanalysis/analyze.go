package traceanalysis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/google/pprof/profile"
	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
	"golang.org/x/exp/trace"
)

// Options tune the analysis. The zero value works: every zero field takes the
// default documented on it.
type Options struct {
	// LongSlice is how long a goroutine must run without leaving the running
	// state for the slice to count as not yielding (default 10ms, the
	// runtime's own preemption quantum).
	LongSlice time.Duration
	// TopSlices is how many of the longest running slices Result.Slices keeps
	// (default 20).
	TopSlices int
	// IdleMinWait and IdleMaxWork define idle waits (see the package doc).
	// Defaults 1ms and 1ms.
	IdleMinWait time.Duration
	IdleMaxWork time.Duration
	// DropIdle leaves idle waits out of the off-CPU profile and the findings
	// (their totals stay in Result.Waits).
	DropIdle bool
	// MaxStacks caps the distinct stacks kept (default 1<<16); later stacks
	// fold into one "[stacks truncated]" frame. MaxDepth caps frames per stack,
	// leaf first (default 64).
	MaxStacks int
	MaxDepth  int
	// MaxFindings caps the findings of each kind (default 5).
	MaxFindings int
	// Progress, if set, is called every 64k events and once at the end.
	Progress func(Progress)
}

// Progress reports how far a long analysis has got.
type Progress struct {
	Bytes  int64 // trace bytes read so far
	Events int64 // events processed so far
}

func (o *Options) fill() {
	if o.LongSlice <= 0 {
		o.LongSlice = 10 * time.Millisecond
	}
	if o.TopSlices <= 0 {
		o.TopSlices = 20
	}
	if o.IdleMinWait <= 0 {
		o.IdleMinWait = time.Millisecond
	}
	if o.IdleMaxWork <= 0 {
		o.IdleMaxWork = time.Millisecond
	}
	if o.MaxStacks <= 0 {
		o.MaxStacks = 1 << 16
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 64
	}
	if o.MaxFindings <= 0 {
		o.MaxFindings = 5
	}
}

// Result is what one pass over a trace found.
type Result struct {
	Duration   time.Duration // from the first to the last event
	Events     int64
	Goroutines int // distinct goroutines seen

	// Findings, ranked worst first.
	Findings []findings.Finding

	// Slices are the longest uninterrupted running slices, longest first.
	Slices []Slice
	// Waits are the off-CPU totals per wait reason, largest first.
	Waits []WaitTotal
	// Sched is the scheduling latency (runnable until running) per goroutine
	// creation site, largest total first; Units the same per trace region
	// type (inspect units, where the program marks them as regions).
	Sched []SchedTotal
	Units []SchedTotal
	GC    GCStats

	// CPUSamples counts the trace's CPU profile samples (present only when
	// a CPU profile ran during tracing).
	CPUSamples int64

	// Profiles, gzip-ready pprof: off-CPU time by wait reason, scheduling
	// latency by creation site, on-CPU samples.
	OffCPU, SchedLatency, OnCPU *profile.Profile
}

// Slice is one uninterrupted running slice of a goroutine.
type Slice struct {
	Goroutine int64
	Start     time.Duration // since the trace's first event
	Duration  time.Duration
	EndReason string          // why it stopped running: "preempted", a wait reason, "syscall", "exit", "trace end"
	Culprit   inspect.Frame   // first user-code frame where it stopped
	Stack     []inspect.Frame // where it stopped, leaf first
}

// WaitTotal sums the waits of one reason.
type WaitTotal struct {
	Reason    string        `json:"reason"` // runtime words: "chan receive", "IO wait", ...
	Count     int64         `json:"count"`
	Total     time.Duration `json:"total"`
	Max       time.Duration `json:"max"`
	IdleCount int64         `json:"idle_count"`
	IdleTotal time.Duration `json:"idle_total"`
}

// SchedTotal sums the scheduling latency of one creation site or unit.
type SchedTotal struct {
	Name  string        `json:"name"` // "pkg.entryFunc created at pkg.f file:line", or the unit
	Count int64         `json:"count"`
	Total time.Duration `json:"total"`
	Max   time.Duration `json:"max"`
	P99   time.Duration `json:"p99"` // within 19% (the histogram's bucket width)
}

// GCStats summarises garbage collection in the trace.
type GCStats struct {
	Cycles      int           `json:"cycles"` // mark phases that began in the trace
	Forced      int           `json:"forced"` // of those, started by runtime.GC or debug.FreeOSMemory
	STWCount    int           `json:"stw_count"`
	STWTotal    time.Duration `json:"stw_total"`
	STWMax      time.Duration `json:"stw_max"`
	AssistTotal time.Duration `json:"assist_total"`
	Windows     []STWWindow   `json:"windows,omitempty"` // the first maxWindows stop-the-world windows
	MarkTotal   time.Duration `json:"mark_total"`
}

// STWWindow is one stop-the-world pause.
type STWWindow struct {
	Start    time.Duration `json:"start"` // since the trace's first event
	Duration time.Duration `json:"duration"`
	Reason   string        `json:"reason"`
}

const maxWindows = 1000

// maxForcers bounds the distinct callers of runtime.GC remembered.
const maxForcers = 64

// ErrEmpty is returned for an input with no trace events at all.
var ErrEmpty = errors.New("no events")

// Analyze reads one execution trace from r in a single streaming pass and
// returns what it found.
//
// Cost: the parser (golang.org/x/exp/trace) holds about one generation of the
// trace at a time (what the runtime flushed in about a second); the analysis
// keeps per-goroutine state, interned stacks (capped by MaxStacks) and
// fixed-size aggregates, never the events. Time is linear in the trace size.
// Parsing runs in a second goroutine, a few batches of events ahead of the
// analysis, so on two cores the analysis mostly hides behind the parser;
// Analyze returns only after that goroutine has ended, except when ctx is
// cancelled while the parser waits for input: then Analyze returns at once
// and the parser ends when its pending Read of r returns.
//
// Errors name the operation: "parsing execution trace: ...". A malformed trace
// never panics: a panic inside the parser is returned as an error.
func Analyze(ctx context.Context, r io.Reader, opt Options) (*Result, error) {
	z := NewAnalyzer(opt)
	if err := z.Add(ctx, r); err != nil {
		return nil, err
	}
	return z.Result(), nil
}

// An Analyzer accumulates several traces of one program into one result:
// bursts of tracing, each a complete trace, analysed as if one. Goroutine
// state does not carry from one trace to the next (a goroutine already waiting
// when a trace begins has no stack); stacks, totals and profiles do. Result
// durations are the sum of the traces'. Not safe for concurrent use.
type Analyzer struct {
	a    *analyzer
	done bool
}

// NewAnalyzer returns an Analyzer; zero Options fields take their defaults.
func NewAnalyzer(opt Options) *Analyzer {
	opt.fill()
	return &Analyzer{a: newAnalyzer(opt)}
}

// Add reads one complete trace from r, with the costs described on Analyze.
// After an error the Analyzer still holds what the failed trace added before
// the error; use a new Analyzer when that matters.
func (z *Analyzer) Add(ctx context.Context, r io.Reader) error {
	if z.done {
		return errors.New("analyzing execution trace: Add after Result")
	}
	if err := z.add(ctx, r); err != nil {
		z.a.resetTrace()
		return err
	}
	z.a.endTrace()
	return nil
}

// Result returns what all added traces showed. Call it once, after the last Add.
func (z *Analyzer) Result() *Result {
	z.done = true
	return z.a.finish()
}

func (z *Analyzer) add(ctx context.Context, r io.Reader) error {
	a := z.a
	cr := &countingReader{r: r}
	tr, err := newReader(cr)
	if err != nil {
		return fmt.Errorf("parsing execution trace: %w", err)
	}
	out := make(chan *batch, 4)
	free := make(chan *batch, 6)
	stop := make(chan struct{})
	go readEvents(tr, out, free, stop)
	defer func() {
		close(stop)
		if ctx.Err() != nil {
			// Cancelled: do not wait for a parser blocked in a Read of
			// r (a pipe, a terminal); it ends when that Read returns.
			return
		}
		for range out { // wait for the parser to end
		}
	}()
	if err := a.consume(ctx, out, free, cr); err != nil {
		return err
	}
	if a.tevents == a.tsyncs {
		return fmt.Errorf("parsing execution trace: %w", ErrEmpty)
	}
	if a.opt.Progress != nil {
		a.opt.Progress(Progress{Bytes: cr.n.Load(), Events: a.events})
	}
	return nil
}

func (a *analyzer) consume(ctx context.Context, out <-chan *batch, free chan<- *batch, cr *countingReader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("analyzing execution trace: event %d: analysis panic: %v", a.events, p)
		}
	}()
	for {
		var b *batch
		select {
		case b = <-out:
		case <-ctx.Done():
			return fmt.Errorf("analyzing execution trace: %w", ctx.Err())
		}
		if b == nil {
			return nil // the parser reached the end
		}
		for i := range b.evs {
			a.event(&b.evs[i])
			if a.events&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("analyzing execution trace: %w", err)
				}
				if a.opt.Progress != nil {
					a.opt.Progress(Progress{Bytes: cr.n.Load(), Events: a.events})
				}
			}
		}
		if b.err != nil {
			return fmt.Errorf("parsing execution trace: event %d: %w", a.events+1, b.err)
		}
		clear(b.evs) // drop references to the generation's tables
		select {
		case free <- b:
		default:
		}
	}
}

const batchSize = 1024

// batch is a run of events handed from the parsing goroutine to the analysis.
type batch struct {
	evs []trace.Event
	err error // the parser's error after evs; io.EOF is not an error
}

func newReader(r io.Reader) (tr *trace.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed input (parser panic: %v)", p)
		}
	}()
	return trace.NewReader(r)
}

// readEvents parses events into batches until the trace ends, the parser
// fails (the error travels in the last batch) or stop is closed. It closes
// out when it returns.
func readEvents(tr *trace.Reader, out chan<- *batch, free <-chan *batch, stop <-chan struct{}) {
	defer close(out)
	send := func(b *batch) bool {
		select {
		case out <- b:
			return true
		case <-stop:
			return false
		}
	}
	var b *batch
	defer func() {
		if p := recover(); p != nil {
			if b == nil {
				b = &batch{}
			}
			b.err = fmt.Errorf("malformed input (parser panic: %v)", p)
			send(b)
		}
	}()
	for {
		select {
		case b = <-free:
			b.evs = b.evs[:0]
		default:
			b = &batch{evs: make([]trace.Event, 0, batchSize)}
		}
		for len(b.evs) < batchSize {
			ev, err := tr.ReadEvent()
			if err != nil {
				if err != io.EOF {
					b.err = err
				}
				send(b)
				return
			}
			b.evs = append(b.evs, ev)
		}
		if !send(b) {
			return
		}
	}
}

// countingReader counts bytes read; the parser goroutine reads while the
// analysis reports progress, hence the atomic.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
