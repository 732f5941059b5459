package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/pprof/profile"
	"github.com/hotloop/hotloop/internal/atomicfile"
	"github.com/hotloop/hotloop/internal/findings"
	"github.com/hotloop/hotloop/internal/traceanalysis"
	"github.com/spf13/cobra"
)

type analyzeOptions struct {
	input  string
	outDir string
	json   bool
	noIdle bool
	top    int
}

func newAnalyzeCmd(s *streams) *cobra.Command {
	o := &analyzeOptions{}
	cmd := &cobra.Command{
		Use:   "analyze TRACE|- [-o DIR] [--json] [--no-idle] [--top N]",
		Short: "Find CPU-bound loops, waits, scheduling latency and GC pauses in an execution trace",
		Long: `analyze reads a Go execution trace (runtime/trace, go test -trace, a flight
recorder snapshot; "-" is standard input) in one streaming pass and reports,
ranked worst first:

  - cpu-bound loops: the longest uninterrupted running slices, named by the
    user-code function where each ended (a loop the scheduler had to preempt);
  - waits by reason, in the runtime's words (chan receive, select, IO wait,
    sync.Mutex.Lock, syscall, sleep, ...), named by the function that waited;
  - scheduling latency (runnable until running) per goroutine creation site;
  - GC cycles, stop-the-world pauses and mark assists.

Idle waits (a goroutine waiting for work: an accept loop, an idle connection's
read, a channel receive after which it does no work) are labelled idle=true in
the off-CPU profile and reported as "idle"; --no-idle leaves them out.

Findings go to standard error for people, or to standard output as JSON with
--json. With -o DIR, three pprof profiles are written there atomically:
offcpu.pb.gz (off-CPU nanoseconds; the wait reason is the root frame),
schedlat.pb.gz (scheduling latency by creation site) and oncpu.pb.gz (the
trace's CPU samples, present when a CPU profile ran during tracing). Render
them with "hotloop flame" or "go tool pprof".

A malformed trace exits 2 with one line and writes nothing.`,
		Example: `  hotloop analyze trace.out -o prof/
  hotloop flame prof/offcpu.pb.gz -o offcpu.svg
  curl -s localhost:6060/debug/pprof/trace?seconds=5 | hotloop analyze - --no-idle --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.input = args[0]
			if o.top < 0 {
				return badInput(fmt.Errorf("--top %d: want 0 (all) or more", o.top))
			}
			return runAnalyze(cmd, s, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.outDir, "output", "o", "", "write offcpu.pb.gz, schedlat.pb.gz and oncpu.pb.gz into this directory")
	fl.BoolVar(&o.json, "json", false, `print the findings as JSON ({"findings":[...]}) on standard output`)
	fl.BoolVar(&o.noIdle, "no-idle", false, "leave idle waits out of the findings and the off-CPU profile")
	fl.IntVar(&o.top, "top", 10, "show at most N findings (0: all)")
	return cmd
}

func runAnalyze(cmd *cobra.Command, s *streams, o *analyzeOptions) error {
	ctx := cmd.Context()
	rc, display, err := openInput(s, o.input)
	if err != nil {
		return err
	}
	defer rc.Close()
	res, err := traceanalysis.Analyze(ctx, ctxReader{ctx, rc}, traceanalysis.Options{DropIdle: o.noIdle})
	if err != nil {
		if ctx.Err() != nil {
			return failure(fmt.Errorf("analyzing %s: %w", display, ctx.Err()))
		}
		return badInput(fmt.Errorf("analyzing %s: %w", display, err))
	}
	fs := res.Findings
	if o.top > 0 && len(fs) > o.top {
		fs = fs[:o.top]
	}
	// Profiles first: a directory that cannot be written is a failure
	// before anything was printed as if it had worked.
	var wrote []string
	if o.outDir != "" {
		if err := os.MkdirAll(o.outDir, 0o755); err != nil {
			return failure(fmt.Errorf("creating output directory: %w", err))
		}
		for _, f := range []struct {
			name string
			p    *profile.Profile
		}{{"offcpu.pb.gz", res.OffCPU}, {"schedlat.pb.gz", res.SchedLatency}, {"oncpu.pb.gz", res.OnCPU}} {
			path := filepath.Join(o.outDir, f.name)
			if err := atomicfile.Write(path, f.p.Write); err != nil {
				return failure(fmt.Errorf("writing %s: %w", path, err))
			}
			wrote = append(wrote, fmt.Sprintf("%s (%d samples)", path, len(f.p.Sample)))
		}
	}
	var b strings.Builder
	summarize(&b, display, res)
	if !o.json {
		b.WriteByte('\n')
		if err := findings.WriteText(&b, fs); err != nil {
			return failure(err)
		}
	}
	for _, w := range wrote {
		fmt.Fprintf(&b, "wrote %s\n", w)
	}
	if _, err := io.WriteString(s.errOut, b.String()); err != nil {
		return failure(err)
	}
	if o.json {
		if err := findings.WriteJSON(s.out, fs); err != nil {
			return failure(err)
		}
	}
	return nil
}

// summarize writes the figures people look at first: what the trace holds and
// where the off-CPU time went.
func summarize(b *strings.Builder, name string, r *traceanalysis.Result) {
	fmt.Fprintf(b, "%s: %s traced, %d events, %d goroutines, %d CPU samples\n",
		name, findings.FormatDuration(r.Duration), r.Events, r.Goroutines, r.CPUSamples)
	if r.GC.Cycles > 0 || r.GC.STWCount > 0 {
		fmt.Fprintf(b, "gc: %d cycles, %d stop-the-world pauses (total %s, longest %s), mark assist %s\n",
			r.GC.Cycles, r.GC.STWCount, findings.FormatDuration(r.GC.STWTotal), findings.FormatDuration(r.GC.STWMax), findings.FormatDuration(r.GC.AssistTotal))
	}
	if len(r.Slices) > 0 {
		sl := r.Slices[0]
		fmt.Fprintf(b, "longest running slice: %s, goroutine %d, ended (%s) in %s\n",
			findings.FormatDuration(sl.Duration), sl.Goroutine, sl.EndReason, sl.Culprit)
	}
	if len(r.Waits) > 0 {
		b.WriteString("off-CPU by reason (total, of which idle):\n")
		for i, w := range r.Waits {
			if i == 8 {
				fmt.Fprintf(b, "  ... %d more\n", len(r.Waits)-i)
				break
			}
			fmt.Fprintf(b, "  %-22s %10s  idle %10s  waits %d\n", w.Reason, findings.FormatDuration(w.Total), findings.FormatDuration(w.IdleTotal), w.Count)
		}
	}
}
