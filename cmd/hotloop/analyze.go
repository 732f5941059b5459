package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/pprof/profile"
	"github.com/hotloop/hotloop/inspect"
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
	fl.BoolVar(&o.json, "json", false, `print {"findings":[...],"trace":{...}} as JSON on standard output`)
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
		if err := writeAnalyzeJSON(s.out, fs, res); err != nil {
			return failure(err)
		}
	}
	return nil
}

// writeAnalyzeJSON writes {"findings":[...],"trace":{...}}: the findings in
// the form every hotloop command uses, and the trace's figures beside them.
// Durations are in seconds.
func writeAnalyzeJSON(w io.Writer, fs []findings.Finding, r *traceanalysis.Result) error {
	var fb bytes.Buffer
	if err := findings.WriteJSON(&fb, fs); err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(fb.Bytes(), &doc); err != nil {
		return fmt.Errorf("writing findings as JSON: %w", err)
	}
	type total struct {
		Name  string  `json:"name"`
		Count int64   `json:"count"`
		Total float64 `json:"total_seconds"`
		Max   float64 `json:"max_seconds"`
		P99   float64 `json:"p99_seconds"`
	}
	totals := func(ts []traceanalysis.SchedTotal) []total {
		out := make([]total, 0, len(ts))
		for _, t := range ts {
			out = append(out, total{t.Name, t.Count, t.Total.Seconds(), t.Max.Seconds(), t.P99.Seconds()})
		}
		return out
	}
	type wait struct {
		Reason    string  `json:"reason"`
		Count     int64   `json:"count"`
		Total     float64 `json:"total_seconds"`
		Max       float64 `json:"max_seconds"`
		IdleCount int64   `json:"idle_count"`
		IdleTotal float64 `json:"idle_seconds"`
	}
	type slice struct {
		Goroutine int64         `json:"goroutine"`
		Start     float64       `json:"start_seconds"`
		Duration  float64       `json:"duration_seconds"`
		EndReason string        `json:"end_reason"`
		Culprit   inspect.Frame `json:"culprit"`
	}
	tr := struct {
		Duration   float64 `json:"duration_seconds"`
		Events     int64   `json:"events"`
		Goroutines int     `json:"goroutines"`
		CPUSamples int64   `json:"cpu_samples"`
		Waits      []wait  `json:"waits"`
		Slices     []slice `json:"longest_slices"`
		Sched      []total `json:"sched_latency_by_site"`
		Units      []total `json:"sched_latency_by_unit"`
		GC         struct {
			Cycles   int     `json:"cycles"`
			STWCount int     `json:"stw_count"`
			STWTotal float64 `json:"stw_total_seconds"`
			STWMax   float64 `json:"stw_max_seconds"`
			Assist   float64 `json:"mark_assist_seconds"`
		} `json:"gc"`
	}{
		Duration: r.Duration.Seconds(), Events: r.Events, Goroutines: r.Goroutines, CPUSamples: r.CPUSamples,
		Waits: []wait{}, Slices: []slice{}, Sched: totals(r.Sched), Units: totals(r.Units),
	}
	for _, w := range r.Waits {
		tr.Waits = append(tr.Waits, wait{w.Reason, w.Count, w.Total.Seconds(), w.Max.Seconds(), w.IdleCount, w.IdleTotal.Seconds()})
	}
	for _, sl := range r.Slices {
		tr.Slices = append(tr.Slices, slice{sl.Goroutine, sl.Start.Seconds(), sl.Duration.Seconds(), sl.EndReason, sl.Culprit})
	}
	tr.GC.Cycles, tr.GC.STWCount = r.GC.Cycles, r.GC.STWCount
	tr.GC.STWTotal, tr.GC.STWMax, tr.GC.Assist = r.GC.STWTotal.Seconds(), r.GC.STWMax.Seconds(), r.GC.AssistTotal.Seconds()
	raw, err := json.Marshal(tr)
	if err != nil {
		return fmt.Errorf("writing trace figures as JSON: %w", err)
	}
	doc["trace"] = raw
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("writing findings as JSON: %w", err)
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
