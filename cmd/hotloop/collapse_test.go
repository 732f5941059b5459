package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

const peers = "../../../shared/peers"

const perfInput = "app 10 1.0: 100 cycles:\n\tffffffff81000000 do_syscall_64+0x1 ([kernel.kallsyms])\n\t4000 main (/app)\n\n"

func runCLIWith(t *testing.T, ctx context.Context, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runContext(ctx, args, &streams{in: bytes.NewReader(stdin), out: &out, errOut: &errOut})
	return code, out.String(), errOut.String()
}

// labelledPprof is a gzipped CPU profile: main.main -> main.decode, labelled
// unit=decode, and main.main alone without label.
func labelledPprof(t *testing.T) []byte {
	t.Helper()
	fm := &profile.Function{ID: 1, Name: "main.main"}
	fd := &profile.Function{ID: 2, Name: "main.decode"}
	lm := &profile.Location{ID: 1, Line: []profile.Line{{Function: fm}}}
	ld := &profile.Location{ID: 2, Line: []profile.Line{{Function: fd}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{ld, lm}, Value: []int64{2, 20}, Label: map[string][]string{"unit": {"decode"}}},
			{Location: []*profile.Location{lm}, Value: []int64{1, 10}},
		},
		Location: []*profile.Location{lm, ld},
		Function: []*profile.Function{fm, fd},
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCollapse(t *testing.T) {
	pb := labelledPprof(t)
	tests := []struct {
		name  string
		stdin []byte
		args  []string
		want  string
	}{
		{"perf", []byte(perfInput), nil, "app;main;do_syscall_64 100\n"},
		{"perf kernel tid", []byte(perfInput), []string{"--kernel", "--tid"}, "app-?/10;main;do_syscall_64_[k] 100\n"},
		{"pprof", pb, nil, "main.main 10\nmain.main;main.decode 20\n"},
		{"pprof by label", pb, []string{"--by-label", "unit"}, "unit=<none>;main.main 10\nunit=decode;main.main;main.decode 20\n"},
		{"pprof sample type", pb, []string{"--sample-type", "samples", "-"}, "main.main 1\nmain.main;main.decode 2\n"},
		{"folded", []byte("b;c 1\na 2\nb;c 3\n"), []string{"--format", "folded"}, "a 2\nb;c 4\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLIWith(t, context.Background(), tt.stdin, append([]string{"collapse"}, tt.args...)...)
			if code != exitOK || out != tt.want || stderr != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0, %q", code, out, stderr, tt.want)
			}
		})
	}
}

// TestCollapsePeerFile: a FlameGraph capture given as a FILE argument, gzipped
// and not, gives the script's expected result byte for byte.
func TestCollapsePeerFile(t *testing.T) {
	in := filepath.Join(peers, "flamegraph-pl/test/perf-java-stacks-02.txt")
	want, err := os.ReadFile(filepath.Join(peers, "flamegraph-pl/test/results/perf-java-stacks-02-collapsed-all.txt"))
	if err != nil {
		t.Fatalf("peer corpus: %v", err)
	}
	raw, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(t.TempDir(), "stacks.txt.gz")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(gz, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{in, gz} {
		out := filepath.Join(t.TempDir(), "out.folded")
		code, stdout, stderr := runCLIWith(t, context.Background(), nil, "collapse", "--all", file, "-o", out)
		if code != exitOK || stdout != "" {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", file, code, stdout, stderr)
		}
		if !strings.HasPrefix(stderr, "collapse: read perf input: ") {
			t.Errorf("stderr %q, want the summary line", stderr)
		}
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: output differs from the expected result (%v)", file, err)
		}
	}
}

func TestCollapseBadInput(t *testing.T) {
	pb := labelledPprof(t)
	big := bytes.Repeat([]byte(perfInput), 3000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(big)
	zw.Close()
	truncated := gz.Bytes()[:gz.Len()/2]
	tests := []struct {
		name  string
		stdin []byte
		args  []string
		want  string // stderr prefix
	}{
		{"empty", nil, nil, "hotloop: <stdin>: parsing profile: empty input"},
		{"binary garbage", []byte("\x00\x01\x02\xff garbage \x03"), nil, "hotloop: <stdin>: parsing pprof profile: not a pprof protobuf"},
		{"truncated gzip", truncated, nil, "hotloop: <stdin>: parsing perf script: line "},
		{"broken perf record", []byte(perfInput + "app 10 1.0: 100 cycles:\n\t4000 main (/app\n\n"), nil, `hotloop: <stdin>: parsing perf script: line 6: unrecognized line "\t4000 main (/app"`},
		{"folded without count", []byte("a;b 1\na;c\n"), nil, "hotloop: <stdin>: parsing folded stacks: line 2: missing count"},
		{"unknown sample type", pb, []string{"--sample-type", "alloc_space"}, `hotloop: <stdin>: parsing pprof profile: no sample type "alloc_space" (available: samples/count, cpu/nanoseconds)`},
		{"unknown format", []byte(perfInput), []string{"--format", "json"}, `hotloop: --format "json": want pprof, folded or perf`},
		{"missing file", nil, []string{"does-not-exist.pb.gz"}, "hotloop: open does-not-exist.pb.gz: no such file or directory"},
		{"two files", nil, []string{"a", "b"}, "hotloop: accepts at most 1 arg(s), received 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.folded")
			args := append([]string{"collapse", "-o", out}, tt.args...)
			code, stdout, stderr := runCLIWith(t, context.Background(), tt.stdin, args...)
			if code != exitBadUse {
				t.Errorf("exit %d, want %d", code, exitBadUse)
			}
			if !strings.HasPrefix(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left %v behind", entries)
			}
		})
	}
}

// TestCollapseCancelled: Ctrl-C (a cancelled context) stops the read: exit 1
// and no output file.
func TestCollapseCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "out.folded")
	code, _, stderr := runCLIWith(t, ctx, []byte(perfInput), "collapse", "-o", out)
	if code != exitFailure || !strings.Contains(stderr, "context canceled") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output file exists: %v", err)
	}
}

// TestCollapseDeepStack: a 10,000-frame perf script stack collapses whole.
func TestCollapseDeepStack(t *testing.T) {
	var b strings.Builder
	b.WriteString("app 1 1.0: 1 cycles:\n")
	for i := 10000; i > 0; i-- {
		fmt.Fprintf(&b, "\t%x f%d (/app)\n", i, i)
	}
	b.WriteString("\n")
	code, out, stderr := runCLIWith(t, context.Background(), []byte(b.String()), "collapse")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(out, ";"); n != 10000 || !strings.HasPrefix(out, "app;f1;f2;") || !strings.HasSuffix(out, ";f9999;f10000 1\n") {
		t.Fatalf("got %d frames: %.60q...", n, out)
	}
}
