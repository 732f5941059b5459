package flame

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SVGOptions tune WriteSVG. The zero value draws flamegraph.pl's default
// geometry (1200 px wide, 16 px frames, frames under 0.1 px left out) with
// the Go-aware palette.
type SVGOptions struct {
	Title     string  // default "Flame Graph" ("Icicle Graph" inverted, "Differential Flame Graph" for a diff)
	Subtitle  string  // optional second heading
	Width     int     // image width in px; default 1200
	Height    int     // frame height in px (flamegraph.pl's --height); default 16
	FontSize  float64 // default 12
	MinWidth  float64 // frames narrower than this many px are left out; default 0.1, negative keeps all
	CountName string  // what values count, for titles; default the profile's Unit, else "samples"
	NameType  string  // label of the hover details; default "Function:"
	Inverted  bool    // icicle graph: root at the top
	Reverse   bool    // reverse every stack (leaf first) before merging, as flamegraph.pl --reverse
	// Colors is the palette: "go" (default; tells apart the Go runtime, the
	// standard library, your module, third-party modules, kernel and native
	// frames, with a legend) or one of flamegraph.pl's (see Palettes).
	Colors string
	// Hash keys flamegraph.pl palettes by a hash of the name's first
	// characters (--hash) instead of flamegraph.pl's default per-name
	// pseudo-random pick. Both are deterministic; the "go" palette always hashes.
	Hash bool
	// ModulePath is the import path of your module, coloured as your code in
	// the "go" palette. Empty: InferModulePath, and main.* always counts.
	ModulePath string
}

// Geometry constants of flamegraph.pl.
const (
	xpad      = 10
	framepad  = 1
	fontWidth = 0.59 // average glyph width relative to the font size
	legendH   = 20   // extra row at the bottom for the palette legend
)

//go:embed svg.js
var svgScript string

// WriteSVG renders p as an interactive SVG flame graph.
//
// Every drawn frame is a <g> with a <title> ("name (N samples, P%)"), a
// <rect> and a <text> label, so the picture is complete without JavaScript
// (CI artifact viewers, <img> tags); the embedded script adds hover details,
// click to zoom, reset zoom, and regex search (Ctrl-F) with the matched
// percentage. The frame geometry is flamegraph.pl's: the same x, y, width of
// every frame at the same options, including its order of siblings and its
// pruning of frames narrower than MinWidth, so the SVG of a huge profile stays
// small. Output is byte-identical for the same profile and options: colours
// derive from frame names, never from randomness or map order.
//
// Cost: O(profile tree nodes) plus O(frames drawn); the output is about
// 250 bytes per drawn frame.
func WriteSVG(w io.Writer, p *Profile, opt SVGOptions) error {
	if p == nil || p.nodes == nil || p.Len() == 0 {
		return errors.New("rendering flame graph: the profile is empty")
	}
	if p.total <= 0 || math.IsNaN(p.total) || math.IsInf(p.total, 0) {
		return fmt.Errorf("rendering flame graph: nothing to draw (total %v)", p.total)
	}
	if opt.Colors == "" {
		opt.Colors = "go"
	}
	if !validPalette(opt.Colors) {
		return fmt.Errorf("rendering flame graph: %w", paletteError(opt.Colors))
	}
	if opt.Width == 0 {
		opt.Width = 1200
	}
	if opt.Height == 0 {
		opt.Height = 16
	}
	if opt.FontSize == 0 {
		opt.FontSize = 12
	}
	if opt.Width <= 2*xpad || opt.Height <= framepad || opt.FontSize <= 0 {
		return fmt.Errorf("rendering flame graph: width %d, frame height %d, font size %v too small", opt.Width, opt.Height, opt.FontSize)
	}
	if opt.MinWidth == 0 {
		opt.MinWidth = 0.1
	}
	if opt.CountName == "" {
		opt.CountName = p.Unit
		if opt.CountName == "" {
			opt.CountName = "samples"
		}
	}
	if opt.NameType == "" {
		opt.NameType = "Function:"
	}
	if opt.Title == "" {
		switch {
		case p.base != nil:
			opt.Title = "Differential Flame Graph"
		case opt.Inverted:
			opt.Title = "Icicle Graph"
		default:
			opt.Title = "Flame Graph"
		}
	}
	opt.CountName = sanitize(opt.CountName)
	opt.NameType = sanitize(opt.NameType)
	if opt.Reverse {
		p = p.Reversed()
	}
	t := p.tree()
	if opt.Colors == "go" && opt.ModulePath == "" {
		opt.ModulePath = inferModulePath(p, t)
	}
	timemax := p.total
	widthPerTime := float64(opt.Width-2*xpad) / timemax
	minTime := opt.MinWidth / widthPerTime
	if opt.MinWidth < 0 {
		minTime = math.Inf(-1)
	}
	frames := layout(p, t, minTime)
	depthMax := int32(0)
	for _, f := range frames {
		depthMax = max(depthMax, f.depth)
	}

	r := &svgRenderer{
		opt: opt, p: p, timemax: timemax, wpt: widthPerTime,
		col:      &colorer{palette: opt.Colors, hash: opt.Hash, module: opt.ModulePath},
		maxDelta: maxDelta(p),
	}
	fs := opt.FontSize
	ypad1 := fs * 3
	ypad2 := fs*2 + 10
	ypad3 := 0.0
	if opt.Subtitle != "" {
		ypad3 = fs * 2
	}
	r.top = ypad1 + ypad3
	r.depthMax = depthMax
	plotH := float64(depthMax+1)*float64(opt.Height) + ypad1 + ypad2 + ypad3
	// The legend row: the colours of a differential graph, or the Go
	// palette's classes drawn (there is one as soon as a frame other than
	// the root or a separator is).
	imageH := plotH
	if p.base != nil {
		imageH += legendH // red / blue / white
	} else if opt.Colors == "go" {
		for _, f := range frames[1:] {
			if n := p.names[p.nodes[f.node].name]; n != "-" && n != "--" {
				imageH += legendH
				break
			}
		}
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	W := opt.Width
	fmt.Fprintf(bw, `<?xml version="1.0" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg version="1.1" width="%d" height="%s" onload="init(evt)" viewBox="0 0 %d %s" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" data-xpad="%d" data-inverted="%t" data-fontsize="%s" data-fontwidth="%s" data-nametype="%s">
<!-- Flame graph rendered by hotloop (github.com/hotloop/hotloop); geometry as Brendan Gregg's flamegraph.pl. -->
`, W, num(imageH), W, num(imageH), xpad, opt.Inverted, num(fs), num(fontWidth), xmlEscape(opt.NameType))
	bg1, bg2 := background(opt.Colors)
	fmt.Fprintf(bw, `<defs>
	<linearGradient id="background" y1="0" y2="1" x1="0" x2="0">
		<stop stop-color="%s" offset="5%%"/>
		<stop stop-color="%s" offset="95%%"/>
	</linearGradient>
</defs>
<style type="text/css">
	text { font-family:Verdana; font-size:%spx; fill:rgb(0,0,0); }
	#search, #ignorecase { opacity:0.1; cursor:pointer; }
	#search:hover, #search.show, #ignorecase:hover, #ignorecase.show { opacity:1; }
	#subtitle { text-anchor:middle; fill:rgb(160,160,160); }
	#title { text-anchor:middle; font-size:%spx; }
	#unzoom { cursor:pointer; }
	#frames > *:hover { stroke:black; stroke-width:0.5; cursor:pointer; }
	.hide { display:none; }
	.parent { opacity:0.5; }
	.legend { font-size:%spx; }
</style>
<script type="text/ecmascript">
<![CDATA[
%s]]>
</script>
`, bg1, bg2, num(fs), num(fs+5), num(fs-2), svgScript)
	fmt.Fprintf(bw, "<rect x=\"0.0\" y=\"0\" width=\"%d.0\" height=\"%s\" fill=\"url(#background)\"/>\n", W, fmt1(imageH))
	half := W / 2
	fmt.Fprintf(bw, "<text id=\"title\" x=\"%d.00\" y=\"%s\">%s</text>\n", half, num(fs*2), xmlEscape(sanitize(opt.Title)))
	if opt.Subtitle != "" {
		fmt.Fprintf(bw, "<text id=\"subtitle\" x=\"%d.00\" y=\"%s\">%s</text>\n", half, num(fs*4), xmlEscape(sanitize(opt.Subtitle)))
	}
	fmt.Fprintf(bw, "<text id=\"details\" x=\"%d.00\" y=\"%s\"> </text>\n", xpad, num(plotH-ypad2/2))
	fmt.Fprintf(bw, "<text id=\"unzoom\" x=\"%d.00\" y=\"%s\" class=\"hide\">Reset Zoom</text>\n", xpad, num(fs*2))
	fmt.Fprintf(bw, "<text id=\"search\" x=\"%d.00\" y=\"%s\">Search</text>\n", W-xpad-100, num(fs*2))
	fmt.Fprintf(bw, "<text id=\"ignorecase\" x=\"%d.00\" y=\"%s\">ic</text>\n", W-xpad-16, num(fs*2))
	fmt.Fprintf(bw, "<text id=\"matched\" x=\"%d.00\" y=\"%s\"> </text>\n", W-xpad-100, num(plotH-ypad2/2))

	// The frames stream out through one reused buffer.
	bw.WriteString("<g id=\"frames\">\n")
	var buf []byte
	for _, f := range frames {
		buf = r.appendFrame(buf[:0], f)
		bw.Write(buf)
	}
	bw.WriteString("</g>\n")
	legend := r.col.legend()
	if p.base != nil {
		legend = []legendEntry{
			{"grew (the deeper, the more)", colorScale(1, 2)},
			{"shrank", colorScale(-1, 2)},
			{"unchanged; widths are NEW's", colorScale(0, 2)},
		}
	}
	if len(legend) > 0 && imageH > plotH {
		// One row below the plot: a swatch and a label per class drawn.
		bw.WriteString("<g id=\"legend\">\n")
		x := float64(xpad)
		y := plotH + 2
		for _, e := range legend {
			fmt.Fprintf(bw, "<rect x=\"%s\" y=\"%s\" width=\"10.0\" height=\"10.0\" fill=\"%s\" rx=\"2\" ry=\"2\"/><text class=\"legend\" x=\"%s\" y=\"%s\">%s</text>\n",
				fmt1(x), num(y), e.color, fmt2(x+14), num(y+9), xmlEscape(sanitize(e.label)))
			x += 14 + float64(utf8.RuneCountInString(e.label))*(fs-2)*fontWidth + 20
		}
		bw.WriteString("</g>\n")
	}
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

type svgRenderer struct {
	opt      SVGOptions
	p        *Profile
	col      *colorer
	timemax  float64
	wpt      float64
	maxDelta float64
	top      float64 // y of the top of the plot (under title and subtitle)
	depthMax int32
	colors   []rgb // by name id, computed once per name
}

func (r *svgRenderer) appendFrame(b []byte, f laidFrame) []byte {
	p, opt := r.p, r.opt
	fh := float64(opt.Height)
	x1 := xpad + f.stime*r.wpt
	x2 := xpad + f.etime*r.wpt
	var y1, y2 float64
	if !opt.Inverted {
		// flamegraph.pl: imageheight - ypad2 - (depth+1)*frameheight + framepad
		y1 = r.top + float64(r.depthMax-f.depth)*fh + framepad
		y2 = r.top + float64(r.depthMax-f.depth+1)*fh
	} else {
		y1 = r.top + float64(f.depth)*fh
		y2 = r.top + float64(f.depth+1)*fh - framepad
	}
	name := ""
	if f.node != 0 {
		name = p.names[p.nodes[f.node].name]
	}
	var st, ft [420]byte // a float64 printed without decimals, with commas, fits
	samplesTxt := appendCommas(st[:0], strconv.AppendFloat(ft[:0], f.etime-f.stime, 'f', 0, 64))

	b = append(b, "<g><title>"...)
	if f.node == 0 {
		b = append(b, "all ("...)
		b = append(b, samplesTxt...)
		b = append(b, ' ')
		b = appendEscaped(b, opt.CountName)
		b = append(b, ", 100%)"...)
	} else {
		rounded := math.RoundToEven(f.etime - f.stime) // = sprintf "%.0f": exact halves go to even
		b = appendEscaped(b, sanitize(stripAnnotation(name)))
		b = append(b, " ("...)
		b = append(b, samplesTxt...)
		b = append(b, ' ')
		b = appendEscaped(b, opt.CountName)
		b = append(b, ", "...)
		b = strconv.AppendFloat(b, 100*rounded/r.timemax, 'f', 2, 64)
		b = append(b, '%')
		if p.base != nil {
			b = append(b, "; "...)
			if f.delta > 0 {
				b = append(b, '+')
			}
			b = strconv.AppendFloat(b, 100*f.delta/r.timemax, 'f', 2, 64)
			b = append(b, '%')
		}
		b = append(b, ')')
	}
	b = append(b, "</title><rect x=\""...)
	// flamegraph.pl prints x with one decimal and the width as the
	// difference of the printed x2 and x1.
	var t1, t2 [32]byte
	rx1 := strconv.AppendFloat(t1[:0], x1, 'f', 1, 64)
	rx2 := strconv.AppendFloat(t2[:0], x2, 'f', 1, 64)
	fx1, _ := strconv.ParseFloat(unsafeString(rx1), 64)
	fx2, _ := strconv.ParseFloat(unsafeString(rx2), 64)
	b = append(b, rx1...)
	b = append(b, "\" y=\""...)
	b = strconv.AppendFloat(b, y1, 'f', -1, 64)
	b = append(b, "\" width=\""...)
	b = strconv.AppendFloat(b, fx2-fx1, 'f', 1, 64)
	b = append(b, "\" height=\""...)
	b = strconv.AppendFloat(b, y2-y1, 'f', 1, 64)
	b = append(b, "\" fill=\""...)
	var c rgb
	switch {
	case f.node != 0 && (name == "-" || name == "--"):
		c = r.col.color(name) // flamegraph.pl's grey separators, also in a diff
	case p.base != nil:
		c = colorScale(f.delta, r.maxDelta)
	case f.node == 0 && opt.Colors == "go":
		c = rgb{210, 210, 210} // "all" is no code of anyone's
	case f.node == 0:
		c = r.col.color("")
	default:
		if r.colors == nil {
			r.colors = make([]rgb, len(p.names))
		}
		id := p.nodes[f.node].name
		if c = r.colors[id]; c == (rgb{}) { // rgb(0,0,0) is no palette's colour
			c = r.col.color(name)
			r.colors[id] = c
		}
	}
	b = c.append(b)
	b = append(b, "\" rx=\"2\" ry=\"2\"/><text x=\""...)
	b = strconv.AppendFloat(b, x1+3, 'f', 2, 64)
	b = append(b, "\" y=\""...)
	b = strconv.AppendFloat(b, 3+(y1+y2)/2, 'f', -1, 64)
	b = append(b, "\">"...)
	chars := int((x2 - x1) / (opt.FontSize * fontWidth))
	if chars >= 3 && f.node != 0 {
		b = appendLabel(b, sanitize(stripAnnotation(name)), chars)
	}
	b = append(b, "</text></g>\n"...)
	return b
}

// appendLabel appends flamegraph.pl's frame label, escaped: the name cut to
// chars characters, the last two replaced by ".." when cut.
func appendLabel(b []byte, name string, chars int) []byte {
	if len(name) <= chars { // bytes >= characters: it fits
		return appendEscaped(b, name)
	}
	ascii := true
	for i := 0; i < len(name) && ascii; i++ {
		ascii = name[i] < utf8.RuneSelf
	}
	if ascii {
		b = appendEscaped(b, name[:chars-2])
		return append(b, ".."...)
	}
	if utf8.RuneCountInString(name) <= chars {
		return appendEscaped(b, name)
	}
	r := []rune(name)[:chars]
	r[chars-2], r[chars-1] = '.', '.'
	return appendEscaped(b, string(r))
}

// colorScale is flamegraph.pl's differential colour: red for growth, blue for
// shrinkage, white for none, saturating at maxDelta.
func colorScale(delta, maxDelta float64) rgb {
	c := rgb{255, 255, 255}
	if delta > 0 {
		v := int(210 * (maxDelta - delta) / maxDelta)
		c.g, c.b = v, v
	} else if delta < 0 {
		v := int(210 * (maxDelta + delta) / maxDelta)
		c.r, c.g = v, v
	}
	return c
}

func background(palette string) (string, string) {
	switch palette {
	case "mem":
		return "#eef2ee", "#e0ffe0"
	case "io":
		return "#eeeeee", "#e0e0ff"
	case "red", "green", "blue", "aqua", "yellow", "purple", "orange":
		return "#f8f8f8", "#e8e8e8"
	}
	return "#eeeeee", "#eeeeb0"
}

// num formats a coordinate as Perl prints a number: integers without a
// fraction, else the shortest exact form.
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func fmt1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func fmt2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// appendCommas appends the integer text digits grouped in threes, as
// flamegraph.pl prints counts: 1234567 -> 1,234,567.
func appendCommas(b, digits []byte) []byte {
	if len(digits) > 0 && (digits[0] == '-' || digits[0] == '+') {
		b = append(b, digits[0])
		digits = digits[1:]
	}
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 && c >= '0' && c <= '9' {
			b = append(b, ',')
		}
		b = append(b, c)
	}
	return b
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '"':
			b = append(b, "&quot;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func xmlEscape(s string) string { return string(appendEscaped(nil, s)) }

// Reversed returns a copy of p with every stack reversed (leaf first), as
// flamegraph.pl --reverse: the merge happens at the leaves. Cost: one pass,
// a new tree.
func (p *Profile) Reversed() *Profile {
	q := NewProfile(p.Unit)
	var frames []string
	var buf []byte
	p.eachNode(p.tree(), 0, func(stack string, n int32) {
		frames = append(frames[:0], strings.Split(stack, ";")...)
		buf = buf[:0]
		for i := len(frames) - 1; i >= 0; i-- {
			buf = append(buf, frames[i]...)
			if i > 0 {
				buf = append(buf, ';')
			}
		}
		q.addBytes(buf, p.nodes[n].self)
		if p.base != nil {
			m := q.lookup(buf)
			for len(q.base) < len(q.nodes) {
				q.base = append(q.base, 0)
			}
			q.base[m] += p.base[n]
		}
	})
	if p.base != nil {
		for len(q.base) < len(q.nodes) {
			q.base = append(q.base, 0)
		}
	}
	return q
}
