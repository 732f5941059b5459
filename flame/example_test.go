package flame_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/hotloop/hotloop/flame"
)

// Render folded stacks as an SVG flame graph.
func ExampleWriteSVG() {
	p, err := flame.ReadFolded(strings.NewReader(`
runtime.main;main.main;main.parse 30
runtime.main;main.main;encoding/json.Unmarshal 10
runtime.gcBgMarkWorker 5
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	var svg strings.Builder
	if err := flame.WriteSVG(&svg, p, flame.SVGOptions{Title: "CPU"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.Count(svg.String(), "<g><title>"), "frames")
	// Output: 6 frames
}

// Compare two profiles: widths from new, red where a stack grew.
func ExampleDiff() {
	base := flame.NewProfile("samples")
	base.Add("main;parse", 10)
	base.Add("main;write", 10)
	next := flame.NewProfile("samples")
	next.Add("main;parse", 25)
	next.Add("main;write", 5)
	d := flame.Diff(base, next, flame.DiffOptions{})
	if err := flame.WriteFoldedDiff(os.Stdout, d); err != nil {
		fmt.Println(err)
	}
	// Output:
	// main;parse 10 25
	// main;write 10 5
}

// Folded stacks back out, sorted and merged.
func ExampleWriteFolded() {
	p := flame.NewProfile("samples")
	p.Add("a;b", 2)
	p.Add("a", 1)
	p.Add("a;b", 0.5)
	if err := flame.WriteFolded(os.Stdout, p); err != nil {
		fmt.Println(err)
	}
	// Output:
	// a 1
	// a;b 2.5
}
