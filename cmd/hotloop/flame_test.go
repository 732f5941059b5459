package main

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// flameWellFormed fails unless b is a well-formed XML document.
func flameWellFormed(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
}

func flameWriteFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// flameTestPprof is a tiny Go CPU profile: two stacks, one label.
func flameTestPprof(t *testing.T) []byte {
	t.Helper()
	return flameTestPprofScaled(t, 1)
}

// flameTestPprofScaled is flameTestPprof with main.work's samples times k.
func flameTestPprofScaled(t *testing.T, k int64) []byte {
	t.Helper()
	fn := func(id uint64, name string) *profile.Function {
		return &profile.Function{ID: id, Name: name, SystemName: name, Filename: "x.go"}
	}
	fMain, fWork, fGC := fn(1, "main.main"), fn(2, "main.work"), fn(3, "runtime.gcBgMarkWorker")
	loc := func(id uint64, f *profile.Function) *profile.Location {
		return &profile.Location{ID: id, Line: []profile.Line{{Function: f, Line: 10}}}
	}
	lMain, lWork, lGC := loc(1, fMain), loc(2, fWork), loc(3, fGC)
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10000000,
		Function:   []*profile.Function{fMain, fWork, fGC},
		Location:   []*profile.Location{lMain, lWork, lGC},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{lWork, lMain}, Value: []int64{7 * k, 70000000 * k}, Label: map[string][]string{"unit": {"decode"}}},
			{Location: []*profile.Location{lGC}, Value: []int64{3, 30000000}},
		},
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFlameCommand(t *testing.T) {
	dir := t.TempDir()
	folded := flameWriteFile(t, dir, "in.folded", []byte("main.main;main.work 7\nruntime.gcBgMarkWorker 3\n"))
	pb := flameWriteFile(t, dir, "cpu.pb.gz", flameTestPprof(t))
	perf, _ := filepath.Abs("../../../shared/peers/flamegraph-pl/test/perf-dd-stacks-01.txt")

	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  []string
	}{
		{"folded file to -o", []string{"flame", folded, "-o", filepath.Join(dir, "a.svg")}, "", []string{"<title>main.work (7 samples, 70.00%)</title>", `id="legend"`}},
		{"folded stdin to stdout", []string{"flame", "--title", "T & <U>", "--colors", "hot", "--hash"}, "a;b 1\n", []string{"<title>b (1 samples, 100.00%)</title>", ">T &amp; &lt;U&gt;</text>"}},
		{"pprof cpu nanoseconds", []string{"flame", pb}, "", []string{"<title>main.work (70,000,000 nanoseconds, 70.00%)</title>"}},
		{"pprof by label", []string{"flame", pb, "--by-label", "unit", "--sample-type", "samples"}, "", []string{"<title>unit=decode (7 count, 70.00%)</title>"}},
		{"icicle options", []string{"flame", folded, "--inverted", "--width", "600", "--height", "20", "--minwidth", "1%", "--countname", "ticks", "--subtitle", "sub", "--reverse"}, "", []string{"Icicle Graph", "<title>main.work (7 ticks, 70.00%)</title>", `width="600"`, ">sub</text>"}},
		{"perf script", []string{"flame", perf, "--kernel"}, "", []string{"<title>dd ("}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.stdin, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if errOut != "" {
				t.Errorf("stderr %q", errOut)
			}
			svg := []byte(out)
			for i, a := range tc.args {
				if a == "-o" {
					b, err := os.ReadFile(tc.args[i+1])
					if err != nil {
						t.Fatal(err)
					}
					if out != "" {
						t.Errorf("stdout %q with -o", out)
					}
					svg = b
				}
			}
			flameWellFormed(t, svg)
			for _, w := range tc.want {
				if !bytes.Contains(svg, []byte(w)) {
					t.Errorf("SVG lacks %q", w)
				}
			}
		})
	}
}

func TestFlameDeepStack(t *testing.T) {
	frames := make([]string, 10000)
	for i := range frames {
		frames[i] = "main.recurse"
	}
	dir := t.TempDir()
	in := flameWriteFile(t, dir, "deep.folded", []byte(strings.Join(frames, ";")+" 5\n"))
	out := filepath.Join(dir, "deep.svg")
	if code, _, errOut := runCLI(t, "", "flame", in, "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("<title>main.recurse (5 samples")); n != 10000 {
		t.Fatalf("%d frames drawn, want 10000", n)
	}
}

// Bad input: one line naming the file (and line), exit 2, and no output file.
func TestFlameBadInput(t *testing.T) {
	dir := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte("main.main;main.work 7\n"), 1000))
	zw.Close()
	truncated := gz.Bytes()[:gz.Len()/2]
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i/3)
	}
	for _, tc := range []struct {
		name, data string
		args       []string
		want       string
	}{
		{"empty", "", nil, "empty input"},
		{"no count", "a;b 1\na;b\n", nil, "line 2: missing count"},
		{"bad count", "a;b 1\na;b x\n", []string{"--format", "folded"}, `line 2: invalid count "x"`},
		{"garbage", string(garbage), nil, "parsing pprof profile"},
		{"truncated gzip", string(truncated), nil, "gzip"},
		{"bad palette", "a 1\n", []string{"--colors", "rainbow"}, `--colors "rainbow"`},
		{"bad minwidth", "a 1\n", []string{"--minwidth", "wide"}, `--minwidth "wide"`},
		{"bad width", "a 1\n", []string{"--width", "5"}, "--width 5"},
		{"zero total", "a 0\n", nil, "nothing to draw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := flameWriteFile(t, dir, "in-"+strings.ReplaceAll(tc.name, " ", "-"), []byte(tc.data))
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(tc.name, " ", "-")+".svg")
			code, stdout, errOut := runCLI(t, "", append([]string{"flame", in, "-o", out}, tc.args...)...)
			if code != exitBadUse {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errOut)
			}
			if !strings.HasPrefix(errOut, "hotloop: ") || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr %q: want one line with %q", errOut, tc.want)
			}
			t.Logf("stderr: %s", errOut)
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output file exists after a failed run (%v)", err)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temp file %s left behind", e.Name())
				}
			}
		})
	}
	if code, _, errOut := runCLI(t, "", "flame", filepath.Join(dir, "missing.folded")); code != exitBadUse || !strings.Contains(errOut, "missing.folded") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
}
