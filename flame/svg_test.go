package flame

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -run %s -update rewrites it); got:\n%s", path, t.Name(), got)
	}
}

func readTestFolded(t testing.TB, name string) *Profile {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := ReadFolded(f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func renderSVG(t testing.TB, p *Profile, opt SVGOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSVG(&b, p, opt); err != nil {
		t.Fatal(err)
	}
	checkXML(t, b.Bytes())
	return b.Bytes()
}

// checkXML fails unless b is well-formed XML.
func checkXML(t testing.TB, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

func TestSVGGolden(t *testing.T) {
	p := readTestFolded(t, "small.folded")
	for _, tc := range []struct {
		file string
		opt  SVGOptions
	}{
		{"small.svg", SVGOptions{}},
		{"small-hot-inverted.svg", SVGOptions{Colors: "hot", Inverted: true, Title: "Icicle & <friends>", Subtitle: "sub", CountName: "ns", Width: 800, Height: 20}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			golden(t, tc.file, renderSVG(t, p, tc.opt))
		})
	}
	t.Run("small-diff.svg", func(t *testing.T) {
		base := NewProfile("samples")
		p.Each(func(s string, v float64) {
			if !strings.Contains(s, "rewrite") {
				base.Add(s, v)
			}
		})
		base.Add("runtime.main;main.main;github.com/acme/fwd/internal/rewrite.Line", 50)
		base.Add("old;gone", 3)
		golden(t, "small-diff.svg", renderSVG(t, Diff(base, p, DiffOptions{}), SVGOptions{}))
	})
}

// The same profile built in another order, and rendered twice, gives the same bytes.
func TestSVGDeterministic(t *testing.T) {
	p := readTestFolded(t, "small.folded")
	var lines []string
	p.Each(func(s string, v float64) { lines = append(lines, s+" "+string(appendValue(nil, v))) })
	q := NewProfile("samples")
	for i := len(lines) - 1; i >= 0; i-- {
		s, v, msg := parseFoldedLine([]byte(lines[i]))
		if msg != "" {
			t.Fatal(msg)
		}
		q.Add(string(s), v)
	}
	a, b, c := renderSVG(t, p, SVGOptions{}), renderSVG(t, p, SVGOptions{}), renderSVG(t, q, SVGOptions{})
	if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Fatal("renders differ")
	}
}

// flamegraph.pl sorts lines as strings and merges a frame only with the
// preceding line's: "a 5" < "a-b 2" < "a;b 3" draws a, a-b and a again.
func TestSVGSiblingOrderIsFlamegraphPl(t *testing.T) {
	p := NewProfile("samples")
	p.Add("a;b", 3)
	p.Add("a-b", 2)
	p.Add("a", 5)
	p.Add("c", 1)
	p.Add("c;d", 1)                                                  // "c 1" then "c;d 1": adjacent, one frame c of 2
	fs := parseSVGFrames(t, renderSVG(t, p, SVGOptions{Width: 120})) // 100 px for 12 samples
	var got []string
	for _, f := range fs {
		if f.y == fs[0].y-16 { // depth 1
			got = append(got, f.name+" "+fmt1(f.x)+" "+fmt1(f.w))
		}
	}
	want := []string{"a 10.0 41.7", "a-b 51.7 16.6", "a 68.3 25.0", "c 93.3 16.7"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("depth 1 frames:\n%v\nwant\n%v", got, want)
	}
}

func TestSVGPrunesNarrowFrames(t *testing.T) {
	p := NewProfile("samples")
	p.Add("big;child", 100000)
	for i := 0; i < 1000; i++ {
		p.Add("big;tiny"+string(rune('A'+i%26))+strings.Repeat("x", i/26), 1)
	}
	svg := renderSVG(t, p, SVGOptions{})
	fs := parseSVGFrames(t, svg)
	if len(fs) != 3 { // all, big, child: each tiny frame is 0.012 px
		t.Fatalf("drew %d frames, want 3", len(fs))
	}
	for _, f := range fs {
		if f.name == "big" && f.samples != 101000 {
			t.Fatalf("big has %v samples", f.samples)
		}
	}
	if all := parseSVGFrames(t, renderSVG(t, p, SVGOptions{MinWidth: -1})); len(all) != 1003 {
		t.Fatalf("MinWidth -1 drew %d frames, want 1003", len(all))
	}
}

func TestSVGDeepStack(t *testing.T) {
	frames := make([]string, 10000)
	for i := range frames {
		frames[i] = "main.recurse"
	}
	p := NewProfile("samples")
	p.Add(strings.Join(frames, ";"), 1)
	fs := parseSVGFrames(t, renderSVG(t, p, SVGOptions{}))
	if len(fs) != 10001 {
		t.Fatalf("drew %d frames, want 10001", len(fs))
	}
}

func TestSVGNamesAreEscaped(t *testing.T) {
	p := NewProfile("samples")
	p.Add("a<b>&\"c\x01\xff]]>;x_[k]", 3)
	svg := renderSVG(t, p, SVGOptions{})
	if !bytes.Contains(svg, []byte("<title>a&lt;b&gt;&amp;&quot;c\uFFFD\uFFFD]]&gt; (3 samples, 100.00%)</title>")) {
		t.Errorf("escaped title not found in:\n%s", svg)
	}
	if !bytes.Contains(svg, []byte("<title>x (3 samples, 100.00%)</title>")) {
		t.Errorf("annotation _[k] not stripped from the title")
	}
}

func TestSVGOptionErrors(t *testing.T) {
	p := NewProfile("samples")
	if err := WriteSVG(io.Discard, p, SVGOptions{}); err == nil {
		t.Error("empty profile rendered")
	}
	p.Add("a", 0)
	if err := WriteSVG(io.Discard, p, SVGOptions{}); err == nil || !strings.Contains(err.Error(), "nothing to draw") {
		t.Errorf("zero total: %v", err)
	}
	p.Add("a", 1)
	if err := WriteSVG(io.Discard, p, SVGOptions{Colors: "rainbow"}); err == nil || !strings.Contains(err.Error(), `unknown palette "rainbow"`) {
		t.Errorf("bad palette: %v", err)
	}
}

func TestSVGLegend(t *testing.T) {
	svg := string(renderSVG(t, readTestFolded(t, "small.folded"), SVGOptions{}))
	for _, want := range []string{">Go runtime</text>", ">standard library</text>", ">github.com/acme/fwd</text>", ">third-party modules</text>", ">kernel</text>", ">native / cgo</text>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("legend lacks %s", want)
		}
	}
	if hot := string(renderSVG(t, readTestFolded(t, "small.folded"), SVGOptions{Colors: "hot"})); strings.Contains(hot, `id="legend"`) {
		t.Error("hot palette has a legend")
	}
}

func TestSVGNumberAndLabelFormats(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "999": "999", "1000": "1,000", "1234567": "1,234,567", "-1234": "-1,234", "+Inf": "+Inf"} {
		if got := string(appendCommas(nil, []byte(in))); got != want {
			t.Errorf("appendCommas(%s) = %s, want %s", in, got, want)
		}
	}
	for _, tc := range []struct {
		name  string
		chars int
		want  string
	}{
		{"runtime.mallocgc", 20, "runtime.mallocgc"},
		{"runtime.mallocgc", 16, "runtime.mallocgc"},
		{"runtime.mallocgc", 10, "runtime..."}, // "runtime.ma" with ".." for its last two
		{"a<b>&c", 5, "a&lt;b.."},
		{"héllo wörld", 11, "héllo wörld"},
		{"héllo wörld", 6, "héll.."},
	} {
		if got := string(appendLabel(nil, tc.name, tc.chars)); got != tc.want {
			t.Errorf("appendLabel(%q, %d) = %q, want %q", tc.name, tc.chars, got, tc.want)
		}
	}
}
