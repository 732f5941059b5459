package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/hotloop/hotloop/flame"
	"github.com/spf13/cobra"
)

// inputFlags are the flags that choose how a profile is read: the format and
// the options of the perf script and pprof readers. Commands that read
// profiles register them and call read.
type inputFlags struct {
	format     string
	perf       flame.PerfOptions
	sampleType string
	byLabel    string
}

func (f *inputFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "", "input format: pprof, folded or perf (default: detected)")
	fl.BoolVar(&f.perf.PID, "pid", false, `perf: root frame "comm-PID"`)
	fl.BoolVar(&f.perf.TID, "tid", false, `perf: root frame "comm-PID/TID"`)
	fl.BoolVar(&f.perf.Kernel, "kernel", false, `perf: suffix kernel frames with "_[k]"`)
	fl.BoolVar(&f.perf.JIT, "jit", false, `perf: suffix JIT frames with "_[j]"`)
	fl.BoolVar(&f.perf.All, "all", false, "perf: --kernel and --jit")
	fl.BoolVar(&f.perf.Addrs, "addrs", false, `perf: "[module <addr>]" for unknown symbols`)
	fl.StringVar(&f.perf.EventFilter, "event-filter", "", "perf: keep samples of this event (default: the first event seen)")
	fl.StringVar(&f.sampleType, "sample-type", "", `pprof: sample type to weigh by, e.g. "cpu", "alloc_space" (default: the profile's default)`)
	fl.StringVar(&f.byLabel, "by-label", "", `pprof: put each sample's value of this label at the root ("unit=decode")`)
}

// options validates the flags.
func (f *inputFlags) options() (flame.ReadOptions, error) {
	opt := flame.ReadOptions{
		Format: flame.Format(f.format),
		Perf:   f.perf,
		Pprof:  flame.PprofOptions{SampleType: f.sampleType, ByLabel: f.byLabel},
	}
	switch opt.Format {
	case "", flame.FormatPprof, flame.FormatFolded, flame.FormatPerf:
	default:
		return opt, fmt.Errorf("--format %q: want pprof, folded or perf", f.format)
	}
	return opt, nil
}

// readProfile reads the profile named by a FILE argument ("" or "-" is
// standard input) in any format. Input that cannot be read or parsed is bad
// input (exit 2); the message names the file.
// Cancelling ctx stops the read (exit 1).
func readProfile(ctx context.Context, s *streams, name string, opt flame.ReadOptions) (*flame.Profile, flame.Format, error) {
	rc, display, err := openInput(s, name)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	p, format, err := flame.Read(ctxReader{ctx, rc}, opt)
	if err != nil {
		if ctx.Err() != nil {
			return nil, format, failure(fmt.Errorf("%s: %w", display, ctx.Err()))
		}
		return nil, format, badInput(fmt.Errorf("%s: %w", display, err))
	}
	return p, format, nil
}

type collapseOptions struct {
	input  string
	output string
	in     inputFlags
	read   flame.ReadOptions
}

func newCollapseCmd(s *streams) *cobra.Command {
	o := &collapseOptions{}
	cmd := &cobra.Command{
		Use:   "collapse [FILE|-] [-o out.folded]",
		Short: "Turn pprof, perf script or folded input into folded stacks",
		Long: `collapse reads a profile (FILE, or standard input when absent or "-") and
writes it as folded stacks, one "frame;frame;frame count" line per distinct
stack, sorted: the input of flamegraph.pl, inferno and hotloop flame.

The input may be a pprof protobuf (gzipped or not), perf script text or folded
stacks, gzipped or not; the format is detected from its first 64 KiB, or forced
with --format. perf script is collapsed as stackcollapse-perf.pl does it, with
its --pid, --tid, --kernel, --jit, --all and --addrs; each sample counts its
period when perf printed one. pprof samples are weighed by the profile's
default sample type or --sample-type, inlined frames expanded, and --by-label
puts a pprof label's value at the root of each stack.

Output goes to standard output or -o FILE, written atomically: bad input
exits 2 with one line naming the file and line, and leaves no file behind.`,
		Example: `  perf script | hotloop collapse --kernel > out.folded
  hotloop collapse cpu.pb.gz --by-label unit -o cpu.folded
  hotloop collapse heap.pb.gz --sample-type alloc_space`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.input = args[0]
			}
			opt, err := o.in.options()
			if err != nil {
				return badInput(err)
			}
			o.read = opt
			return runCollapse(cmd, s, o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write the folded stacks to this file (default standard output)")
	o.in.register(cmd)
	return cmd
}

func runCollapse(cmd *cobra.Command, s *streams, o *collapseOptions) error {
	p, format, err := readProfile(cmd.Context(), s, o.input, o.read)
	if err != nil {
		return err
	}
	if o.output != "" && o.output != "-" {
		fmt.Fprintf(s.errOut, "collapse: read %s input: %d stacks, %s %s\n", format, p.Len(), formatTotal(p.Total()), p.Unit)
	}
	err = writeOutput(s, o.output, func(w io.Writer) error { return flame.WriteFolded(w, p) })
	if err != nil {
		return failure(err)
	}
	return nil
}

// formatTotal prints a total without a spurious fraction.
func formatTotal(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-" {
		return "0"
	}
	return s
}

// ctxReader stops a long read when the command's context is cancelled
// (Ctrl-C): the CLI catches the signal, so reads must notice it themselves.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
