package flame

import (
	"bytes"
	"sort"
	"strings"
	"testing"
)

func readFoldedPeer(t *testing.T, path string) *Profile {
	t.Helper()
	p, err := ReadFolded(bytes.NewReader(readSVGPeer(t, path)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// sortedLines sorts a difffolded output, which difffolded.pl prints in Perl's
// hash order.
func sortedLines(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func TestDiffFoldedConformance(t *testing.T) {
	for _, tc := range []struct {
		name, base, new, want string
		opt                   DiffOptions
	}{
		// flamegraph.pl's difffolded.pl of the cycles-instructions captures.
		{"difffolded-all-vs-kernel", "flamegraph-pl/test/results/perf-cycles-instructions-01-collapsed-all.txt",
			"flamegraph-pl/test/results/perf-cycles-instructions-01-collapsed-kernel.txt",
			"flamegraph-pl/rendered/difffolded-all-vs-kernel.txt", DiffOptions{}},
		// inferno's diff-folded cases, which equal difffolded.pl's for integer counts.
		{"inferno-default", "inferno/diff-folded/before.txt", "inferno/diff-folded/after.txt", "inferno/diff-folded/results/default.txt", DiffOptions{}},
		{"inferno-normalize", "inferno/diff-folded/before.txt", "inferno/diff-folded/after.txt", "inferno/diff-folded/results/normalize.txt", DiffOptions{Normalize: true}},
		{"inferno-strip-hex", "inferno/diff-folded/before.txt", "inferno/diff-folded/after.txt", "inferno/diff-folded/results/strip_hex.txt", DiffOptions{StripHex: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Diff(readFoldedPeer(t, tc.base), readFoldedPeer(t, tc.new), tc.opt)
			var out bytes.Buffer
			if err := WriteFoldedDiff(&out, d); err != nil {
				t.Fatal(err)
			}
			want := sortedLines(readSVGPeer(t, tc.want))
			if out.String() != want {
				t.Errorf("got:\n%s\nwant (sorted):\n%s", out.String(), want)
			}
			if out.String() != sortedLines(out.Bytes()) {
				t.Errorf("output not sorted")
			}
		})
	}
}

// inferno truncates fractional counts (its results/fractionals.txt has 7 for
// 7.56); difffolded.pl keeps them, and so do we: the truncated values must
// equal inferno's, the printed ones difffolded.pl's.
func TestDiffFoldedFractionals(t *testing.T) {
	d := Diff(readFoldedPeer(t, "inferno/diff-folded/before_fractionals.txt"), readFoldedPeer(t, "inferno/diff-folded/after.txt"), DiffOptions{})
	var out bytes.Buffer
	if err := WriteFoldedDiff(&out, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "dd;[unknown];read 14.2343983248723 13\n") || !strings.Contains(out.String(), "dd;[unknown];write;system_call_[k];sys_write_[k];vfs_write_[k];fsnotify_[k];__srcu_read_unlock_[k] 20 15\n") {
		t.Errorf("fractions not kept as difffolded.pl does:\n%s", out.String())
	}
	var trunc []string
	d.EachDiff(func(s string, b, n float64) {
		trunc = append(trunc, s+" "+string(appendValue(nil, truncate(b)))+" "+string(appendValue(nil, truncate(n))))
	})
	sort.Strings(trunc)
	if got, want := strings.Join(trunc, "\n")+"\n", sortedLines(readSVGPeer(t, "inferno/diff-folded/results/fractionals.txt")); got != want {
		t.Errorf("truncated:\n%s\ninferno:\n%s", got, want)
	}
}

func TestDiffBadInput(t *testing.T) {
	_, err := ReadFolded(bytes.NewReader(readSVGPeer(t, "inferno/diff-folded/bad_before.txt")))
	if err == nil || err.Error() != `parsing folded stacks: line 3: missing count (want "frame;frame;... count")` {
		t.Fatalf("bad_before.txt: %v", err)
	}
}

// direction is the sign a differential frame colour shows: red (+1) when
// green and blue are lowered, blue (-1) when red and green are, else 0.
func direction(fill string) int {
	var r, g, b int
	if _, err := sscanRGB(fill, &r, &g, &b); err != nil {
		return 99
	}
	switch {
	case r == 255 && g == b && g < 255:
		return 1
	case b == 255 && r == g && r < 255:
		return -1
	case r == 255 && g == 255 && b == 255:
		return 0
	}
	return 99
}

func TestDiffSVGConformance(t *testing.T) {
	// flamegraph.pl's render of the difffolded reference: same frames, same
	// colour direction per frame.
	d := Diff(readFoldedPeer(t, "flamegraph-pl/test/results/perf-cycles-instructions-01-collapsed-all.txt"),
		readFoldedPeer(t, "flamegraph-pl/test/results/perf-cycles-instructions-01-collapsed-kernel.txt"), DiffOptions{})
	var out bytes.Buffer
	if err := WriteSVG(&out, d, SVGOptions{}); err != nil {
		t.Fatal(err)
	}
	ref := parseSVGFrames(t, readSVGPeer(t, "flamegraph-pl/rendered/difffolded-all-vs-kernel.svg"))
	got := parseSVGFrames(t, out.Bytes())
	matchFrames(t, ref, got)
	dirs := map[string]int{}
	for _, f := range got {
		dirs[f.name+"|"+fmt1(f.x)+"|"+num(f.y)] = direction(f.fill)
	}
	for _, f := range ref {
		if g := dirs[f.name+"|"+fmt1(f.x)+"|"+num(f.y)]; g != direction(f.fill) {
			t.Errorf("frame %q: colour direction %d, flamegraph.pl %d (%s)", f.name, g, direction(f.fill), f.fill)
		}
	}
}

// A real change: inferno's before/after. flamegraph.pl colours a frame by the
// change of the stacks ending in it: red grew, blue shrank, white unchanged.
func TestDiffSVGDirections(t *testing.T) {
	d := Diff(readFoldedPeer(t, "inferno/diff-folded/before.txt"), readFoldedPeer(t, "inferno/diff-folded/after.txt"), DiffOptions{})
	var out bytes.Buffer
	if err := WriteSVG(&out, d, SVGOptions{}); err != nil {
		t.Fatal(err)
	}
	fills := map[string][]string{}
	for _, f := range parseSVGFrames(t, out.Bytes()) {
		fills[f.name] = append(fills[f.name], f.fill)
	}
	// maxdelta is 12 (the write path's 0 -> 12); intensity 210*(12-|d|)/12.
	for name, want := range map[string]string{
		"[dd]":           "rgb(255,140,140)", // 3 -> 7
		"rw_verify_area": "rgb(255,122,122)", // 3 -> 8
		"__fget_light":   "rgb(255,0,0)",     // 0 -> 12
		"read":           "rgb(192,192,255)", // 14 -> 13
		"system_call":    "rgb(255,255,255)", // no stack ends here
	} {
		got := fills[name]
		ok := false
		for _, f := range got {
			ok = ok || f == want
		}
		if !ok {
			t.Errorf("%q: fills %v, want one %s", name, got, want)
		}
	}
	if bytes.Contains(out.Bytes(), []byte("0x234f2abc")) {
		// base-only stack: zero width in new, so not drawn
		t.Errorf("a stack absent from NEW was drawn")
	}
}

// flamegraph.pl renders difffolded.pl's three columns as a differential
// graph; so does hotloop, from the very same reference text.
func TestDiffFoldedInputRendersAsDiff(t *testing.T) {
	d := readFoldedPeer(t, "flamegraph-pl/rendered/difffolded-all-vs-kernel.txt")
	if !d.IsDiff() {
		t.Fatal("three-column input not read as differential")
	}
	var out bytes.Buffer
	if err := WriteSVG(&out, d, SVGOptions{}); err != nil {
		t.Fatal(err)
	}
	ref := parseSVGFrames(t, readSVGPeer(t, "flamegraph-pl/rendered/difffolded-all-vs-kernel.svg"))
	got := parseSVGFrames(t, out.Bytes())
	matchFrames(t, ref, got)
	for _, f := range got {
		if direction(f.fill) != 0 {
			t.Errorf("frame %q: fill %s, flamegraph.pl draws no change white", f.name, f.fill)
		}
	}
	// A real change read from three columns equals Diff of the two profiles.
	var three bytes.Buffer
	want := Diff(readFoldedPeer(t, "inferno/diff-folded/before.txt"), readFoldedPeer(t, "inferno/diff-folded/after.txt"), DiffOptions{})
	if err := WriteFoldedDiff(&three, want); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFolded(bytes.NewReader(three.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	WriteSVG(&a, want, SVGOptions{})
	WriteSVG(&b, back, SVGOptions{})
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("SVG of re-read three-column text differs from Diff's")
	}
	if _, err := ReadFolded(strings.NewReader("a 1 2\nb 3\n")); err == nil || !strings.Contains(err.Error(), "line 2: missing base count") {
		t.Errorf("mixed columns: %v", err)
	}
}
