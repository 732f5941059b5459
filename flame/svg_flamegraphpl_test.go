package flame

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestSVGMatchesLocalFlamegraphPl renders every folded capture of the peers
// corpus with several option sets, with hotloop and with a local
// flamegraph.pl, and requires the same frames (title, x, y, width, fill) and
// labels. It is opt-in: the project does not ship flamegraph.pl, so point
// FLAMEGRAPH_PL at a checkout's script (perl must be installed). The
// committed reference renders are checked by TestSVGConformanceVertx.
func TestSVGMatchesLocalFlamegraphPl(t *testing.T) {
	script := os.Getenv("FLAMEGRAPH_PL")
	if script == "" {
		t.Skip("set FLAMEGRAPH_PL=/path/to/flamegraph.pl to compare with a local flamegraph.pl")
	}
	if testing.Short() {
		t.Skip("runs perl hundreds of times")
	}
	var inputs []string
	for _, g := range []string{svgPeersDir + "/flamegraph-pl/test/results/*-collapsed-all.txt", svgPeersDir + "/flamegraph-pl/test/results/*-collapsed-pid.txt", svgPeersDir + "/inferno/collapse-perf/results/*.txt", svgPeersDir + "/inferno/diff-folded/results/*.txt", svgPeersDir + "/flamegraph-pl/rendered/*.txt"} {
		m, _ := filepath.Glob(g)
		inputs = append(inputs, m...)
	}
	type optSet struct {
		args []string
		opt  SVGOptions
	}
	sets := []optSet{
		{[]string{"--colors", "hot"}, SVGOptions{Colors: "hot"}},
		{[]string{"--colors", "hot", "--hash", "--reverse"}, SVGOptions{Colors: "hot", Hash: true, Reverse: true}},
		{[]string{"--colors", "aqua", "--inverted", "--width", "800", "--height", "20"}, SVGOptions{Colors: "aqua", Inverted: true, Width: 800, Height: 20}},
		{[]string{"--colors", "mem", "--minwidth", "2"}, SVGOptions{Colors: "mem", MinWidth: 2}},
	}
	frameLine := regexp.MustCompile(`<title>[^<]*</title><rect x="[^"]*" y="[^"]*" width="[^"]*" height="[^"]*" fill="[^"]*"`)
	textLine := regexp.MustCompile(`<text\s+x="[^"]*" y="[^"]*"\s*>[^<]*</text>`)
	extract := func(svg []byte) []string {
		var out []string
		for _, m := range frameLine.FindAll(svg, -1) {
			out = append(out, string(m))
		}
		for _, m := range textLine.FindAll(svg, -1) {
			out = append(out, strings.Join(strings.Fields(strings.Replace(string(m), " >", ">", 1)), " "))
		}
		sort.Strings(out)
		return out
	}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ReadFolded(bytes.NewReader(data))
		if err != nil {
			continue // flamegraph.pl skips what it cannot parse; the corpus has a few non-folded files
		}
		for _, set := range sets {
			cmd := exec.Command("perl", append([]string{script}, append(set.args, in)...)...)
			ref, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s %v: %v", in, set.args, err)
			}
			var ours bytes.Buffer
			if err := WriteSVG(&ours, p, set.opt); err != nil {
				t.Fatal(err)
			}
			want, got := extract(ref), extract(ours.Bytes())
			if strings.Join(want, "\n") != strings.Join(got, "\n") {
				diffs := 0
				for i := 0; i < len(want) && i < len(got) && diffs < 3; i++ {
					if want[i] != got[i] {
						t.Errorf("%s %v:\n flamegraph.pl %s\n hotloop       %s", filepath.Base(in), set.args, want[i], got[i])
						diffs++
					}
				}
				if len(want) != len(got) {
					t.Errorf("%s %v: %d elements, flamegraph.pl %d", filepath.Base(in), set.args, len(got), len(want))
				}
			}
		}
	}
}
