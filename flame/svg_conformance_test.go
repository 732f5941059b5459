package flame

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// peers is the shared conformance corpus (see ../shared/peers/README.md),
// relative to this package's directory.
const svgPeersDir = "../../shared/peers"

// svgFrame is one frame of a rendered flame graph, as a test sees it.
type svgFrame struct {
	name    string
	samples float64
	x, y, w float64
	fill    string
}

var frameRE = regexp.MustCompile(`<g\s*[^>]*>\s*<title>(.*?) \(([0-9,.]+) [^,]*, [^)]*\)</title>\s*<rect x="([^"]+)" y="([^"]+)" width="([^"]+)" height="[^"]+" fill="([^"]+)"`)

// parseSVGFrames extracts every <g><title><rect> of a flamegraph.pl-style SVG.
func parseSVGFrames(t testing.TB, svg []byte) []svgFrame {
	t.Helper()
	var out []svgFrame
	for _, m := range frameRE.FindAllSubmatch(svg, -1) {
		f := svgFrame{name: string(m[1]), fill: string(m[6])}
		var err error
		parse := func(s []byte) float64 {
			v, e := strconv.ParseFloat(strings.ReplaceAll(string(s), ",", ""), 64)
			if e != nil {
				err = e
			}
			return v
		}
		f.samples, f.x, f.y, f.w = parse(m[2]), parse(m[3]), parse(m[4]), parse(m[5])
		if err != nil {
			t.Fatalf("parsing frame %q: %v", m[0], err)
		}
		out = append(out, f)
	}
	return out
}

func readSVGPeer(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(svgPeersDir + "/" + path)
	if err != nil {
		t.Fatalf("conformance corpus missing (%v): see ../shared/peers/README.md", err)
	}
	return b
}

// matchFrames checks that every frame of want has a frame in got with the same
// name, samples, y and x, width within 0.01 px (a multiset match).
func matchFrames(t *testing.T, want, got []svgFrame) {
	t.Helper()
	key := func(f svgFrame) string { return fmt.Sprintf("%s|%v|%v", f.name, f.samples, f.y) }
	pool := map[string][]svgFrame{}
	for _, f := range got {
		pool[key(f)] = append(pool[key(f)], f)
	}
	missing := 0
	for _, w := range want {
		cands := pool[key(w)]
		found := -1
		for i, g := range cands {
			if math.Abs(g.x-w.x) <= 0.01 && math.Abs(g.w-w.w) <= 0.01 {
				found = i
				break
			}
		}
		if found < 0 {
			if missing < 10 {
				t.Errorf("frame %q (%v samples) at x=%v y=%v width=%v: not in our SVG (candidates %v)", w.name, w.samples, w.x, w.y, w.w, cands)
			}
			missing++
			continue
		}
		pool[key(w)] = append(cands[:found], cands[found+1:]...)
	}
	if missing > 0 {
		t.Errorf("%d of %d reference frames missing", missing, len(want))
	}
	if len(got) != len(want) {
		t.Errorf("we draw %d frames, flamegraph.pl %d", len(got), len(want))
	}
}

func TestSVGConformanceVertx(t *testing.T) {
	in := readSVGPeer(t, "flamegraph-pl/test/results/perf-vertx-stacks-01-collapsed-all.txt")
	ref := parseSVGFrames(t, readSVGPeer(t, "flamegraph-pl/rendered/perf-vertx-stacks-01-collapsed-all.hash.svg"))
	if len(ref) < 100 {
		t.Fatalf("reference has only %d frames", len(ref))
	}
	p, err := ReadFolded(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opt  SVGOptions
	}{
		{"default", SVGOptions{}},
		// flamegraph.pl --hash: colours too must equal the reference.
		{"hot-hash", SVGOptions{Colors: "hot", Hash: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := WriteSVG(&out, p, tc.opt); err != nil {
				t.Fatal(err)
			}
			got := parseSVGFrames(t, out.Bytes())
			matchFrames(t, ref, got)
			if tc.opt.Colors == "hot" {
				fills := map[string]string{}
				for _, f := range got {
					fills[f.name+"|"+strconv.FormatFloat(f.x, 'f', 1, 64)+"|"+strconv.FormatFloat(f.y, 'f', 0, 64)] = f.fill
				}
				bad := 0
				for _, f := range ref {
					if g := fills[f.name+"|"+strconv.FormatFloat(f.x, 'f', 1, 64)+"|"+strconv.FormatFloat(f.y, 'f', 0, 64)]; g != f.fill {
						if bad < 5 {
							t.Errorf("frame %q: fill %s, flamegraph.pl %s", f.name, g, f.fill)
						}
						bad++
					}
				}
			}
		})
	}
}

func sscanRGB(s string, r, g, b *int) (int, error) {
	return fmt.Sscanf(s, "rgb(%d,%d,%d)", r, g, b)
}
