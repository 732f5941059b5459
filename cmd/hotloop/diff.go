package main

import (
	"context"
	"errors"
	"io"

	"github.com/hotloop/hotloop/flame"
	"github.com/spf13/cobra"
)

type diffOptions struct {
	base, new string
	output    string
	in        inputFlags
	read      flame.ReadOptions
	normalize bool
	stripHex  bool
	folded    bool
	svg       svgFlags
	svgOpt    flame.SVGOptions
}

func newDiffCmd(s *streams) *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff BASE NEW [-o out.svg]",
		Short: "Render a differential flame graph: NEW's widths, red for growth, blue for shrinkage",
		Long: `diff compares two profiles (pprof, folded stacks or perf script; detected) as difffolded.pl and
flamegraph.pl do: frames are as wide as in NEW; a frame whose own samples grew
is red, one that shrank blue, the deeper the colour the larger the change
relative to the largest change. --normalize first scales BASE to NEW's total,
so a longer capture does not read as growth. --folded writes the three-column
folded form ("stack base new") instead of the SVG.`,
		Example: `  hotloop diff before.pb.gz after.pb.gz -o diff.svg
  hotloop diff --normalize --folded before.folded after.folded`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.base, o.new = args[0], args[1]
			read, err := o.in.options()
			if err != nil {
				return badInput(err)
			}
			o.read = read
			opt, err := o.svg.options()
			if err != nil {
				return badInput(err)
			}
			o.svgOpt = opt
			return runDiff(cmd.Context(), s, o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write to this file (default standard output)")
	o.in.register(cmd)
	cmd.Flags().BoolVarP(&o.normalize, "normalize", "n", false, "scale BASE's values to NEW's total (difffolded.pl -n)")
	cmd.Flags().BoolVarP(&o.stripHex, "strip-hex", "s", false, "replace hex addresses in frame names with 0x... (difffolded.pl -s)")
	cmd.Flags().BoolVar(&o.folded, "folded", false, `write "stack base new" folded lines instead of an SVG`)
	o.svg.register(cmd)
	return cmd
}

func runDiff(ctx context.Context, s *streams, o *diffOptions) error {
	if o.base == "-" && o.new == "-" {
		return badInput(errors.New("BASE and NEW cannot both be standard input"))
	}
	base, _, err := readProfile(ctx, s, o.base, o.read)
	if err != nil {
		return err
	}
	next, _, err := readProfile(ctx, s, o.new, o.read)
	if err != nil {
		return err
	}
	if err := drawable(o.new, next); err != nil && !o.folded {
		return err
	}
	d := flame.Diff(base, next, flame.DiffOptions{Normalize: o.normalize, StripHex: o.stripHex})
	if o.folded {
		return writeOutput(s, o.output, func(w io.Writer) error { return flame.WriteFoldedDiff(w, d) })
	}
	return writeOutput(s, o.output, func(w io.Writer) error { return flame.WriteSVG(w, d, o.svgOpt) })
}
