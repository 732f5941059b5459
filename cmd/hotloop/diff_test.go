package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const diffPeers = "../../../shared/peers/"

func TestDiffCommand(t *testing.T) {
	dir := t.TempDir()
	before := diffPeers + "inferno/diff-folded/before.txt"
	after := diffPeers + "inferno/diff-folded/after.txt"
	sorted := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		sort.Strings(l)
		return strings.Join(l, "\n") + "\n"
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--folded"}, diffPeers + "inferno/diff-folded/results/default.txt"},
		{[]string{"--folded", "--normalize"}, diffPeers + "inferno/diff-folded/results/normalize.txt"},
		{[]string{"--folded", "-s"}, diffPeers + "inferno/diff-folded/results/strip_hex.txt"},
	} {
		code, out, errOut := runCLI(t, "", append([]string{"diff", before, after}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errOut)
		}
		if want := sorted(tc.want); out != want {
			t.Errorf("%v:\n%s\nwant\n%s", tc.args, out, want)
		}
	}

	svgPath := filepath.Join(dir, "diff.svg")
	code, out, errOut := runCLI(t, "", "diff", before, after, "-o", svgPath, "--title", "before vs after")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("svg: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	flameWellFormed(t, svg)
	for _, w := range []string{
		">before vs after</text>",
		`<title>__fget_light (12 samples, 15.00%; +15.00%)</title>`, // 0 -> 12 of 80
		`fill="rgb(255,0,0)"`,                                       // the largest growth
		`<title>read (32 samples, 40.00%; -1.25%)</title>`,
	} {
		if !strings.Contains(string(svg), w) {
			t.Errorf("diff SVG lacks %q", w)
		}
	}

	// BASE from standard input
	b, _ := os.ReadFile(before)
	if code, out, errOut := runCLI(t, string(b), "diff", "-", after, "--folded"); code != 0 || out != sorted(diffPeers+"inferno/diff-folded/results/default.txt") {
		t.Errorf("stdin base: exit %d %q", code, errOut)
	}
}

func TestDiffBadInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.svg")
	after := diffPeers + "inferno/diff-folded/after.txt"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"diff", diffPeers + "inferno/diff-folded/bad_before.txt", after, "-o", out}, "bad_before.txt: parsing folded stacks: line 3: missing count"},
		{[]string{"diff", after, filepath.Join(dir, "nope"), "-o", out}, "nope"},
		{[]string{"diff", "-", "-", "-o", out}, "cannot both be standard input"},
		{[]string{"diff", after, "-o", out}, "accepts 2 arg(s)"},
		{[]string{"diff", after, after, "--colors", "x", "-o", out}, `--colors "x"`},
	} {
		code, stdout, errOut := runCLI(t, "", tc.args...)
		if code != exitBadUse || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 || stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%v: output file exists after a failed run", tc.args)
		}
	}
}

// Two pprof profiles: the same stacks, main.work grew.
func TestDiffPprof(t *testing.T) {
	dir := t.TempDir()
	base := flameWriteFile(t, dir, "base.pb.gz", flameTestPprof(t))
	next := flameWriteFile(t, dir, "new.pb.gz", flameTestPprofScaled(t, 3))
	code, out, errOut := runCLI(t, "", "diff", base, next, "--folded", "--sample-type", "samples")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "main.main;main.work 7 21\nruntime.gcBgMarkWorker 3 3\n"; out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	code, out, errOut = runCLI(t, "", "diff", base, next, "--normalize", "--folded", "--sample-type", "samples")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// base scaled to new's total 24: 7*24/10 = 16.8 -> 16, 3*24/10 = 7.2 -> 7
	if want := "main.main;main.work 16 21\nruntime.gcBgMarkWorker 7 3\n"; out != want {
		t.Errorf("normalized: got\n%s\nwant\n%s", out, want)
	}
}
