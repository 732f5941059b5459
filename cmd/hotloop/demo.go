package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	"github.com/hotloop/hotloop/examples/forwarder"
	"github.com/hotloop/hotloop/flame"
	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
	"github.com/hotloop/hotloop/probes"
	"github.com/spf13/cobra"
)

type demoOptions struct {
	dir      string
	duration time.Duration
	fix      bool
	json     bool
	procs    int
	top      int
	findings int
}

func newDemoCmd(s *streams) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the syslog forwarder example under load, profile it and diagnose it",
		Long: `demo runs the forwarder example (examples/forwarder) in this process, with
its JSON rewriting loop that never yields, under a bursty load on loopback for a
few seconds. Meanwhile it records a CPU profile and an execution trace and runs
the starvation probe and the inspect stall watchdog. Then it writes
DIR/cpu.pb.gz, DIR/flame.svg and DIR/trace.out, and prints the top functions
and the ranked findings: the rewriting loop is the top one. With --fix the
forwarder yields inside the loop (inspect.Budget) and the finding is gone.`,
		Example: `  hotloop demo
  hotloop demo --fix
  hotloop demo -o /tmp/demo --duration 10s --json > findings.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.duration < 100*time.Millisecond || o.duration > 10*time.Minute {
				return badInput(fmt.Errorf("--duration %s: want 100ms to 10m", o.duration))
			}
			if o.procs < 1 || o.procs > 256 {
				return badInput(fmt.Errorf("--procs %d: want 1 to 256", o.procs))
			}
			if o.top < 0 || o.findings < 0 {
				return badInput(errors.New("--top and --findings: want 0 or more"))
			}
			if o.dir == "" {
				return badInput(errors.New("-o: want a directory"))
			}
			return runDemo(cmd.Context(), s, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.dir, "output", "o", "hotloop-demo", "directory for cpu.pb.gz, flame.svg and trace.out (created if missing)")
	fl.DurationVar(&o.duration, "duration", 5*time.Second, "how long to run the load")
	fl.BoolVar(&o.fix, "fix", false, "run the forwarder with its fix: the rewriting loop yields (inspect.Budget)")
	fl.BoolVar(&o.json, "json", false, "print the run's figures and findings as JSON to stdout")
	// Two Ps: few enough that a loop which never yields starves the rest,
	// as in a container with a 2-CPU quota.
	fl.IntVar(&o.procs, "procs", 2, "GOMAXPROCS while the demo runs")
	fl.IntVar(&o.top, "top", 10, "how many functions to list")
	fl.IntVar(&o.findings, "findings", 5, "how many findings to print (--json has them all)")
	return cmd
}

// demoLoad is the load the demo offers: bursts of one full batch per
// connection, 200ms apart (at most ~330k lines/s, below what the forwarder
// takes on two cores, but each burst becomes one long rewriting loop), plus a
// probe connection sending one timestamped line per millisecond.
func demoLoad(addr string, d time.Duration) forwarder.Load {
	return forwarder.Load{
		Addr: addr, Conns: 4, Duration: d,
		Burst: 16384, Pause: 200 * time.Millisecond,
		ProbeInterval: time.Millisecond, Seed: 1,
	}
}

func runDemo(ctx context.Context, s *streams, o *demoOptions) error {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return badInput(fmt.Errorf("demo: -o: %w", err))
	}
	mode := "its rewriting loop that never yields"
	if o.fix {
		mode = "its fix: the rewriting loop yields"
	}
	prevProcs := runtime.GOMAXPROCS(o.procs)
	defer runtime.GOMAXPROCS(prevProcs)
	fmt.Fprintf(s.errOut, "hotloop demo: the syslog forwarder with %s, GOMAXPROCS=%d, %s of bursty load on loopback...\n", mode, o.procs, o.duration)

	// The forwarder's units run on a monitor of our own, so the demo neither
	// logs stalls to the default slog logger nor leaves a watchdog behind;
	// its stall reports go to the probes (below).
	quiet := slog.New(slog.DiscardHandler)
	mon := inspect.NewMonitor(inspect.Config{Logger: quiet, OnStall: func(inspect.Stall) {}})
	defer mon.Close()

	recv, err := forwarder.StartReceiver("", 0)
	if err != nil {
		return failure(fmt.Errorf("demo: %w", err))
	}
	defer recv.Stop()
	sink, err := forwarder.OpenSink("tcp://" + recv.Addr().String())
	if err != nil {
		return failure(fmt.Errorf("demo: %w", err))
	}
	defer sink.Close()
	srv, err := forwarder.Start(forwarder.Config{Sink: sink, Fix: o.fix, Monitor: mon})
	if err != nil {
		return failure(fmt.Errorf("demo: %w", err))
	}
	defer srv.Stop()

	prb, err := probes.Start(probes.Config{Monitor: mon})
	if err != nil {
		return failure(fmt.Errorf("demo: starting probes: %w", err))
	}
	defer prb.Stop()
	mon.Configure(inspect.Config{Logger: quiet, OnStall: prb.OnStall})

	var cpuBuf bytes.Buffer
	if err := pprof.StartCPUProfile(&cpuBuf); err != nil {
		return failure(fmt.Errorf("demo: starting the CPU profile: %w", err))
	}
	cpuOn := true
	defer func() {
		if cpuOn {
			pprof.StopCPUProfile()
		}
	}()
	// The execution trace: probes.CaptureOffCPU spools it to a temp file
	// (memory stays flat), copies it to DIR/trace.out (atomically, as every
	// output) and analyses it once the load is over.
	tracePath := filepath.Join(o.dir, "trace.out")
	type capture struct {
		res *probes.OffCPUResult
		err error
	}
	capCtx, stopCapture := context.WithCancel(ctx)
	defer stopCapture()
	captured := make(chan capture, 1)
	go func() {
		var c capture
		c.err = writeOutput(s, tracePath, func(w io.Writer) error {
			// The bound is a safety net: the capture is stopped when the load ends.
			c.res, c.err = probes.CaptureOffCPU(capCtx, 2*o.duration+10*time.Second, probes.OffCPUOptions{NoIdle: true, TraceTo: w})
			return c.err
		})
		captured <- c
	}()

	// The load stops by itself after the duration, or early on Ctrl-C; either
	// way what was collected is written.
	res, loadErr := demoLoad(srv.Addr().String(), o.duration).Run(ctx)
	stopCapture()
	capt := <-captured
	pprof.StopCPUProfile()
	cpuOn = false
	interrupted := ctx.Err() != nil
	if err := prb.Stop(); err != nil {
		fmt.Fprintf(s.errOut, "hotloop demo: probes: %v\n", err)
	}
	if err := srv.Stop(); err != nil {
		return failure(fmt.Errorf("demo: %w", err))
	}
	sink.Close()
	// Let the sink read what the forwarder wrote before it closes.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	recv.WaitCount(wctx, srv.Stats().Records)
	cancel()
	if err := recv.Stop(); err != nil {
		return failure(fmt.Errorf("demo: %w", err))
	}
	if loadErr != nil {
		return failure(fmt.Errorf("demo: %w", loadErr))
	}
	if interrupted {
		fmt.Fprintln(s.errOut, "hotloop demo: interrupted; writing what was collected")
	}
	pst := prb.Stats()
	if pst.OSPauses > 0 {
		fmt.Fprintf(s.errOut, "note: %d times the OS, not Go, kept this process off the CPU past the starvation threshold (a busy machine); wall-clock times below include that\n", pst.OSPauses)
	}
	st, lat := srv.Stats(), recv.Latency()
	secs := max(res.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(s.errOut, "forwarded %d lines in %s (%.0f lines/s); probe lines from send to sink: p50 %s, p99 %s, max %s\n",
		st.Records, res.Elapsed.Round(time.Millisecond), float64(st.Records)/secs,
		findings.FormatDuration(lat.P50), findings.FormatDuration(lat.P99), findings.FormatDuration(lat.Max))

	units := demoUnits(mon.Snapshot())
	writeUnits(s.errOut, units)

	// CPU profile: cpu.pb.gz, top functions, flame graph.
	pp, err := profile.ParseData(cpuBuf.Bytes())
	if err != nil {
		return failure(fmt.Errorf("demo: parsing the CPU profile: %w", err))
	}
	cpuPath := filepath.Join(o.dir, "cpu.pb.gz")
	if err := writeOutput(s, cpuPath, func(w io.Writer) error { return pp.Write(w) }); err != nil {
		return failure(err)
	}
	fmt.Fprintln(s.errOut)
	writeTop(s.errOut, pp, o.top)
	cpuSecs := cpuSeconds(pp)
	fp, err := flame.FromPprof(pp, flame.PprofOptions{})
	if err != nil {
		return failure(fmt.Errorf("demo: %w", err))
	}
	svgPath := filepath.Join(o.dir, "flame.svg")
	title := "hotloop demo: forwarder, rewriting loop that never yields"
	if o.fix {
		title = "hotloop demo: forwarder, rewriting loop that yields (--fix)"
	}
	if err := writeOutput(s, svgPath, func(w io.Writer) error {
		return flame.WriteSVG(w, fp, flame.SVGOptions{
			Title:    title,
			Subtitle: fmt.Sprintf("CPU, %s of load, GOMAXPROCS=%d", res.Elapsed.Round(time.Millisecond), o.procs),
		})
	}); err != nil {
		return failure(err)
	}

	var tfs []findings.Finding
	fs := demoFindings(prb.Findings())
	if capt.err != nil {
		// The probes' findings still stand.
		fmt.Fprintf(s.errOut, "hotloop demo: execution trace: %v\n", capt.err)
		tracePath = ""
	} else {
		tfs = demoFindings(capt.res.Findings)
	}

	writeSection := func(title string, fs []findings.Finding) error {
		shown := fs[:min(len(fs), o.findings)]
		fmt.Fprintf(s.errOut, "\n%s (%d of %d, worst first):\n", title, len(shown), len(fs))
		if err := findings.WriteText(s.errOut, shown); err != nil {
			return err
		}
		if len(shown) < len(fs) {
			fmt.Fprintf(s.errOut, "... %d more: --findings %d or --json lists them all\n", len(fs)-len(shown), len(fs))
		}
		return nil
	}
	if err := writeSection("findings: probes and inspect units", fs); err != nil {
		return failure(err)
	}
	if err := writeSection("findings: execution trace (wall-clock running slices)", tfs); err != nil {
		return failure(err)
	}
	if o.json {
		doc := demoJSON{
			Mode: "unfixed", GOMAXPROCS: o.procs, Seconds: res.Elapsed.Seconds(),
			Lines: st.Records, LinesPerSecond: float64(st.Records) / secs,
			ProbeP50: lat.P50.Seconds(), ProbeP99: lat.P99.Seconds(), ProbeMax: lat.Max.Seconds(),
			Interrupted: interrupted, OSPauses: pst.OSPauses, CPUSeconds: cpuSecs, Units: units,
			Files: map[string]string{"cpu_profile": cpuPath, "flame_graph": svgPath, "trace": tracePath},
		}
		if o.fix {
			doc.Mode = "fix"
		}
		if doc.Findings, err = findingsJSON(fs); err != nil {
			return failure(err)
		}
		if doc.TraceFindings, err = findingsJSON(tfs); err != nil {
			return failure(err)
		}
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(doc); err != nil {
			return failure(err)
		}
	}
	fmt.Fprintf(s.errOut, "\nwrote %s (go tool pprof %s)\n", cpuPath, cpuPath)
	fmt.Fprintf(s.errOut, "wrote %s (open it in a browser)\n", svgPath)
	if tracePath != "" {
		fmt.Fprintf(s.errOut, "wrote %s (hotloop analyze %s)\n", tracePath, tracePath)
	}
	if !o.fix {
		fmt.Fprintln(s.errOut, "next: hotloop demo --fix")
	}
	return nil
}

// demoJSON is the --json document: the run's figures, the files written and
// both lists of findings, each in findings.WriteJSON's form.
type demoJSON struct {
	Mode           string  `json:"mode"` // "unfixed" or "fix"
	GOMAXPROCS     int     `json:"gomaxprocs"`
	Seconds        float64 `json:"seconds"`
	Lines          int64   `json:"lines"`
	LinesPerSecond float64 `json:"lines_per_second"`
	ProbeP50       float64 `json:"probe_latency_p50_seconds"`
	ProbeP99       float64 `json:"probe_latency_p99_seconds"`
	ProbeMax       float64 `json:"probe_latency_max_seconds"`
	Interrupted    bool    `json:"interrupted"`
	OSPauses       uint64  `json:"os_pauses"` // probes.Stats.OSPauses: the machine, not Go, starved the process
	// CPUSeconds is the CPU time the profile recorded: with Seconds, how
	// much CPU the machine gave the process (on an idle 2-core machine the
	// demo uses about one core).
	CPUSeconds    float64           `json:"cpu_seconds"`
	Files         map[string]string `json:"files"`
	Units         []demoUnit        `json:"units"`
	Findings      json.RawMessage   `json:"findings"`
	TraceFindings json.RawMessage   `json:"trace_findings"`
}

// demoUnit is one inspect unit's figures for the run.
type demoUnit struct {
	Name string  `json:"name"`
	Runs uint64  `json:"runs"`
	Slow uint64  `json:"slow"` // runs past the stall threshold
	P50  float64 `json:"p50_seconds"`
	P99  float64 `json:"p99_seconds"`
	Max  float64 `json:"max_seconds"`
	// SlowTime is the time spent in runs past the threshold (from the
	// histogram, within its 12.5% bucket width): how long the unit held
	// things up, where a count of slow runs would weigh a 20ms run like a
	// 2s one.
	SlowTime float64 `json:"slow_seconds"`
}

func demoUnits(stats []inspect.UnitStats) []demoUnit {
	var out []demoUnit
	for _, u := range stats {
		if u.Count == 0 {
			continue
		}
		var slow float64
		for i, n := range u.Hist.Counts {
			lo, hi := inspect.BucketLower(i), inspect.BucketUpper(i)
			if n == 0 || lo < u.Limit {
				continue
			}
			mid := lo.Seconds()
			if hi < 1<<62 {
				mid = (lo.Seconds() + hi.Seconds()) / 2
			}
			slow += float64(n) * mid
		}
		out = append(out, demoUnit{
			Name: u.Name, Runs: u.Count, Slow: u.Slow,
			P50: u.P50.Seconds(), P99: u.P99.Seconds(), Max: u.Max.Seconds(), SlowTime: slow,
		})
	}
	return out
}

func writeUnits(w io.Writer, units []demoUnit) {
	fmt.Fprintf(w, "\ninspect units:\n%-20s %8s %6s %9s %9s %9s %13s\n", "unit", "runs", "slow", "p50", "p99", "max", "in slow runs")
	d := func(sec float64) string { return findings.FormatDuration(time.Duration(sec * 1e9)) }
	for _, u := range units {
		fmt.Fprintf(w, "%-20s %8d %6d %9s %9s %9s %13s\n", u.Name, u.Runs, u.Slow, d(u.P50), d(u.P99), d(u.Max), d(u.SlowTime))
	}
}

// findingsJSON is findings.WriteJSON's array, so both lists keep its form
// (never null, non-finite figures written as 0).
func findingsJSON(fs []findings.Finding) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := findings.WriteJSON(&b, fs); err != nil {
		return nil, err
	}
	var doc struct {
		Findings json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		return nil, err
	}
	return doc.Findings, nil
}

// demoFindings drops the findings about the demo's own machinery: the load
// generator and the sink (they wait by design and are not the service under
// diagnosis), hotloop's own probes and watchdog, and goroutines that run no
// code but the runtime's (the tracer's and profiler's own). It then merges the
// findings that are one problem caught at several leaf frames (mergeLoops)
// and ranks the rest.
func demoFindings(fs []findings.Finding) []findings.Finding {
	fs = slices.DeleteFunc(fs, func(f findings.Finding) bool {
		if isHarness(f.Culprit.Function) {
			return true
		}
		for _, fr := range f.Stack {
			if isHarness(fr.Function) {
				return true
			}
		}
		if f.Kind == findings.GC || f.Kind == findings.Starvation {
			return false // nobody to blame is a finding too
		}
		return !slices.ContainsFunc(f.Stack, func(fr inspect.Frame) bool { return !isRuntime(fr.Function) })
	})
	fs = mergeLoops(fs)
	findings.Rank(fs)
	return fs
}

// harnessPrefixes name the demo's machinery, not the forwarder under diagnosis.
var harnessPrefixes = []string{
	"github.com/hotloop/hotloop/examples/forwarder.Load.",
	"github.com/hotloop/hotloop/examples/forwarder.(*Receiver).",
	"github.com/hotloop/hotloop/examples/forwarder.AppendLine",
	"github.com/hotloop/hotloop/examples/forwarder.dialCtx",
	"github.com/hotloop/hotloop/inspect.(*Monitor).",
	"github.com/hotloop/hotloop/probes.",
	"main.",
}

func isHarness(fn string) bool {
	fn = strings.TrimPrefix(fn, "go ") // a creation site: "go pkg.f"
	for _, p := range harnessPrefixes {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

func isRuntime(fn string) bool {
	return fn == "" || strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "runtime/") ||
		strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "go ") && isRuntime(fn[3:])
}

// cpuSeconds is the CPU time a CPU profile recorded.
func cpuSeconds(pp *profile.Profile) float64 {
	idx := -1
	for i, st := range pp.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			idx = i
		}
	}
	if idx < 0 {
		return 0
	}
	var ns int64
	for _, s := range pp.Sample {
		ns += s.Value[idx]
	}
	return float64(ns) / 1e9
}

// writeTop prints the n functions with the most CPU time, as `go tool pprof
// -top` does: flat is the time with the function as the leaf (inlined frames
// expanded), cum the time with it anywhere on the stack (counted once per
// sample, so recursion does not inflate it).
func writeTop(w io.Writer, pp *profile.Profile, n int) {
	idx := len(pp.SampleType) - 1
	for i, st := range pp.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		fmt.Fprintln(w, "the CPU profile has no samples")
		return
	}
	type fn struct {
		name      string
		flat, cum int64
	}
	byName := map[string]*fn{}
	get := func(name string) *fn {
		f := byName[name]
		if f == nil {
			f = &fn{name: name}
			byName[name] = f
		}
		return f
	}
	var total int64
	seen := map[string]bool{}
	for _, s := range pp.Sample {
		v := s.Value[idx]
		total += v
		clear(seen)
		leaf := true
		for _, loc := range s.Location {
			names := make([]string, 0, len(loc.Line)) // innermost first
			for _, ln := range loc.Line {
				if ln.Function != nil {
					names = append(names, ln.Function.Name)
				}
			}
			if len(names) == 0 {
				names = append(names, fmt.Sprintf("0x%x", loc.Address))
			}
			for _, name := range names {
				f := get(name)
				if leaf {
					f.flat += v
					leaf = false
				}
				if !seen[name] {
					seen[name] = true
					f.cum += v
				}
			}
		}
	}
	fns := make([]*fn, 0, len(byName))
	for _, f := range byName {
		fns = append(fns, f)
	}
	slices.SortFunc(fns, func(a, b *fn) int {
		if a.flat != b.flat {
			return int(b.flat - a.flat)
		}
		if a.cum != b.cum {
			return int(b.cum - a.cum)
		}
		return strings.Compare(a.name, b.name)
	})
	unit := pp.SampleType[idx].Unit
	format := func(v int64) string {
		if unit == "nanoseconds" {
			return findings.FormatDuration(time.Duration(v))
		}
		return fmt.Sprint(v)
	}
	pct := func(v int64) float64 {
		if total == 0 {
			return 0
		}
		return 100 * float64(v) / float64(total)
	}
	n = min(n, len(fns))
	fmt.Fprintf(w, "top %d of %d functions by CPU, %s of samples:\n", n, len(fns), format(total))
	fmt.Fprintf(w, "%10s %6s %6s %10s %6s\n", "flat", "flat%", "sum%", "cum", "cum%")
	var sum int64
	for _, f := range fns[:n] {
		sum += f.flat
		fmt.Fprintf(w, "%10s %5.1f%% %5.1f%% %10s %5.1f%%  %s\n", format(f.flat), pct(f.flat), pct(sum), format(f.cum), pct(f.cum), f.name)
	}
}
