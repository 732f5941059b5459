package main

import (
	"errors"
	"fmt"
	"io"
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
	input   string
	output  string
	format  string
	byLabel string
	svg     svgFlags
	svgOpt  flame.SVGOptions
}

func newFlameCmd(s *streams) *cobra.Command {
	o := &flameOptions{}
	cmd := &cobra.Command{
		Use:   "flame [FILE|-] [-o out.svg]",
		Short: "Render a flame graph (SVG) from pprof, folded stacks or perf script",
		Long: `flame renders a profile as an interactive SVG flame graph with flamegraph.pl's
geometry. The input (FILE, or standard input when absent or "-") is a pprof
protobuf (gzipped or not), folded stacks ("a;b;c 12") or perf script text; the
format is detected. The SVG goes to standard output or -o FILE, written
atomically. Open it in a browser: hover for details, click to zoom, Ctrl-F to
search; without JavaScript (an <img>, a CI artifact viewer) it is still the
complete picture.`,
		Example: `  hotloop flame cpu.pb.gz -o cpu.svg
  go tool pprof -raw cpu.pb.gz | hotloop flame - > cpu.svg
  perf script | hotloop flame --colors hot > perf.svg`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.input = args[0]
			}
			opt, err := o.svg.options()
			if err != nil {
				return badInput(err)
			}
			o.svgOpt = opt
			return runFlame(s, o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write the SVG to this file (default standard output)")
	cmd.Flags().StringVar(&o.format, "format", "", "input format: folded (default: detected)")
	cmd.Flags().StringVar(&o.byLabel, "by-label", "", "pprof: put each sample's value of this label as a frame at the root")
	o.svg.register(cmd)
	return cmd
}

func runFlame(s *streams, o *flameOptions) error {
	p, err := loadProfile(s, o.input, o.format, o.byLabel)
	if err != nil {
		return err
	}
	return writeOutput(s, o.output, func(w io.Writer) error { return flame.WriteSVG(w, p, o.svgOpt) })
}

// loadProfile reads one profile argument; a malformed one is bad input.
func loadProfile(s *streams, name, format, byLabel string) (*flame.Profile, error) {
	switch format {
	case "", "folded":
	default:
		return nil, badInput(fmt.Errorf("--format %q: want folded", format))
	}
	if byLabel != "" {
		return nil, badInput(errors.New("--by-label needs a pprof input"))
	}
	rc, display, err := openInput(s, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	p, err := flame.ReadFolded(rc)
	if err != nil {
		var pe *flame.ParseError
		if errors.As(err, &pe) {
			return nil, badInput(fmt.Errorf("%s: %w", display, err))
		}
		return nil, fmt.Errorf("%s: %w", display, err)
	}
	return p, nil
}
