package flame

import (
	"bufio"
	"io"
	"math"
	"regexp"
	"strconv"
)

// DiffOptions tune Diff, as difffolded.pl's flags do.
type DiffOptions struct {
	// Normalize scales base's values to new's total before comparing
	// (difffolded.pl -n), so a longer capture does not read as growth. Like
	// difffolded.pl it truncates each scaled value to an integer.
	Normalize bool
	// StripHex replaces hexadecimal addresses (0x...) in frame names with
	// "0x..." (difffolded.pl -s), so unsymbolized frames of two runs match.
	StripHex bool
}

var hexAddr = regexp.MustCompile(`0x[0-9a-fA-F]+`)

// Diff returns the differential profile of base and new, with difffolded.pl's
// semantics: every stack of either profile, its value in new (the width drawn)
// and in base. WriteSVG colours a differential profile's frames red where
// they grew and blue where they shrank, with intensity |delta|/maxdelta as
// flamegraph.pl does for three-column input; WriteFoldedDiff writes the
// three columns. Neither input is modified.
// Cost: one pass over each profile; memory is the union of their trees.
func Diff(base, new *Profile, opt DiffOptions) *Profile {
	d := NewProfile(new.Unit)
	fix := func(s string) string {
		if opt.StripHex {
			return hexAddr.ReplaceAllString(s, "0x...")
		}
		return s
	}
	new.Each(func(s string, v float64) { d.Add(fix(s), v) })
	type bv struct {
		node int32
		v    float64
	}
	var bs []bv
	base.Each(func(s string, v float64) {
		n := d.lookup(unsafeBytes(fix(s)))
		if !d.nodes[n].hasSelf {
			d.nodes[n].hasSelf = true
			d.nstacks++
		}
		bs = append(bs, bv{n, v})
	})
	d.base = make([]float64, len(d.nodes))
	for _, b := range bs {
		d.base[b.node] += b.v
	}
	if opt.Normalize && base.total != new.total && base.total != 0 {
		for i, v := range d.base {
			if v != 0 {
				d.base[i] = truncate(v * new.total / base.total)
			}
		}
	}
	return d
}

func truncate(v float64) float64 {
	if v < 0 {
		return -truncate(-v)
	}
	return float64(int64(v))
}

// IsDiff reports whether p is a differential profile made by Diff.
func (p *Profile) IsDiff() bool { return p.base != nil }

// EachDiff calls fn for every stack of a differential profile in byte order,
// with its base and new values. On a plain profile base is always 0.
func (p *Profile) EachDiff(fn func(stack string, base, new float64)) {
	t := p.tree()
	p.eachNode(t, 0, func(stack string, n int32) {
		fn(stack, p.baseValue(n), p.nodes[n].self)
	})
}

// appendPerlNum formats v as Perl prints a number (%.15g), as difffolded.pl's output has it.
func appendPerlNum(b []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', 15, 64)
}

// WriteFoldedDiff writes a differential profile as difffolded.pl does:
// "stack base new" per line, here sorted by stack so the output is deterministic.
func WriteFoldedDiff(w io.Writer, p *Profile) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	var err error
	p.EachDiff(func(stack string, b, n float64) {
		if err != nil {
			return
		}
		buf = append(buf[:0], stack...)
		buf = append(buf, ' ')
		buf = appendPerlNum(buf, b)
		buf = append(buf, ' ')
		buf = appendPerlNum(buf, n)
		buf = append(buf, '\n')
		_, err = bw.Write(buf)
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}
