package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/hotloop/hotloop/flame"
	"github.com/spf13/cobra"
)

// svgFlags are the rendering options shared by flame and diff.
type svgFlags struct {
	title, subtitle, countName, colors, module, minWidth string
	width, height                                        int
	inverted, reverse, hash                              bool
}

func (f *svgFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.title, "title", "", `title text (default "Flame Graph")`)
	fl.StringVar(&f.subtitle, "subtitle", "", "second-level title")
	fl.IntVar(&f.width, "width", 1200, "image width in pixels")
	fl.IntVar(&f.height, "height", 16, "height of each frame in pixels")
	fl.StringVar(&f.minWidth, "minwidth", "0.1", `leave out frames narrower than this many pixels, or this percentage of the total with "%"`)
	fl.BoolVar(&f.inverted, "inverted", false, "icicle graph: root at the top")
	fl.BoolVar(&f.reverse, "reverse", false, "reverse the stacks (merge at the leaves)")
	fl.StringVar(&f.countName, "countname", "", `what the values count (default the profile's unit, e.g. "samples")`)
	fl.StringVar(&f.colors, "colors", "go", "palette: "+strings.Join(flame.Palettes, ", "))
	fl.BoolVar(&f.hash, "hash", false, "colours keyed by a hash of the function name (flamegraph.pl palettes)")
	fl.StringVar(&f.module, "module", "", `import path of your module, coloured as your code (default: inferred from main's callees)`)
}

// options validates the flags and turns them into SVGOptions.
func (f *svgFlags) options() (flame.SVGOptions, error) {
	opt := flame.SVGOptions{
		Title: f.title, Subtitle: f.subtitle, Width: f.width, Height: f.height,
		Inverted: f.inverted, Reverse: f.reverse, CountName: f.countName,
		Colors: f.colors, Hash: f.hash, ModulePath: f.module,
	}
	if f.width <= 20 || f.width > 1<<20 {
		return opt, fmt.Errorf("--width %d: want 21 to %d pixels", f.width, 1<<20)
	}
	if f.height < 2 || f.height > 1000 {
		return opt, fmt.Errorf("--height %d: want 2 to 1000 pixels", f.height)
	}
	ok := false
	for _, p := range flame.Palettes {
		ok = ok || p == f.colors
	}
	if !ok {
		return opt, fmt.Errorf("--colors %q: want one of %s", f.colors, strings.Join(flame.Palettes, ", "))
	}
	mw := strings.TrimSpace(f.minWidth)
	pct := strings.HasSuffix(mw, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(mw, "%"), 64)
	if err != nil || v < 0 || v != v {
		return opt, fmt.Errorf("--minwidth %q: want pixels (0.1) or a percentage (0.5%%)", f.minWidth)
	}
	if pct {
		// flamegraph.pl: a percentage of the total, i.e. of the plot width.
		v = v / 100 * float64(f.width-20)
	}
	if v == 0 {
		v = -1 // keep every frame
	}
	opt.MinWidth = v
	return opt, nil
}

type flameOptions struct {
	input  string
	output string
	in     inputFlags
	read   flame.ReadOptions
	svg    svgFlags
	svgOpt flame.SVGOptions
}

func newFlameCmd(s *streams) *cobra.Command {
	o := &flameOptions{}
	cmd := &cobra.Command{
		Use:   "flame [FILE|-] [-o out.svg]",
		Short: "Render a flame graph (SVG) from pprof, folded stacks or perf script",
		Long: `flame renders a profile as an interactive SVG flame graph with flamegraph.pl's
geometry. The input (FILE, or standard input when absent or "-") is a pprof
protobuf, folded stacks ("a;b;c 12") or perf script text, gzipped or not; the
format is detected, or forced with --format. The SVG goes to standard output or
-o FILE, written atomically: bad input exits 2 with one line and leaves no file.

Open the SVG in a browser: hover for details, click to zoom, Ctrl-F to search
with a regexp and see the share of samples matched. Without JavaScript (an
<img>, a CI artifact viewer) it is still the complete picture. The default "go"
palette colours the Go runtime, the standard library, your module (--module,
else inferred from main's callees), third-party modules, kernel and native/cgo
frames apart, with a legend; --colors picks one of flamegraph.pl's palettes.
Frames narrower than --minwidth are left out, as flamegraph.pl does, so the SVG
of a huge profile stays small.`,
		Example: `  hotloop flame cpu.pb.gz -o cpu.svg
  hotloop flame cpu.pb.gz --by-label unit -o per-unit.svg
  perf script | hotloop flame --colors hot --kernel > perf.svg
  hotloop flame stacks.folded --inverted --title "Icicle" -o icicle.svg`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.input = args[0]
			}
			read, err := o.in.options()
			if err != nil {
				return badInput(err)
			}
			opt, err := o.svg.options()
			if err != nil {
				return badInput(err)
			}
			o.read, o.svgOpt = read, opt
			return runFlame(cmd.Context(), s, o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write the SVG to this file (default standard output)")
	o.in.register(cmd)
	o.svg.register(cmd)
	return cmd
}

func runFlame(ctx context.Context, s *streams, o *flameOptions) error {
	p, _, err := readProfile(ctx, s, o.input, o.read)
	if err != nil {
		return err
	}
	if err := drawable(o.input, p); err != nil {
		return err
	}
	return writeOutput(s, o.output, func(w io.Writer) error { return flame.WriteSVG(w, p, o.svgOpt) })
}

// drawable rejects, as bad input, a profile whose values sum to nothing.
func drawable(name string, p *flame.Profile) error {
	if t := p.Total(); !(t > 0) || math.IsInf(t, 0) {
		if name == "" || name == "-" {
			name = "<stdin>"
		}
		return badInput(fmt.Errorf("%s: nothing to draw: the values sum to %v", name, t))
	}
	return nil
}
