package flame

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const perfSample = "app 10 1.0: 100 cycles:\n\t4004 leaf+0x4 (/app)\n\t4000 main (/app)\n\n"

func TestRead(t *testing.T) {
	pb := encodePprof(t, testPprof(), false)
	tests := []struct {
		name   string
		in     []byte
		opt    ReadOptions
		format Format
		want   string
	}{
		{"pprof", pb, ReadOptions{}, FormatPprof, "main.main 20\n"},
		{"pprof gzip", gzipBytes(t, pb), ReadOptions{}, FormatPprof, "main.main 20\n"},
		{"pprof sample type", pb, ReadOptions{Pprof: PprofOptions{SampleType: "samples"}}, FormatPprof, "main.main 2\n"},
		{"perf", []byte(perfSample), ReadOptions{}, FormatPerf, "app;main;leaf 100\n"},
		{"perf gzip", gzipBytes(t, []byte(perfSample)), ReadOptions{}, FormatPerf, "app;main;leaf 100\n"},
		{"perf header", []byte("# ========\n# captured on: x\n#\n" + perfSample), ReadOptions{}, FormatPerf, "app;main;leaf 100\n"},
		{"perf options", []byte(perfSample), ReadOptions{Perf: PerfOptions{PID: true}}, FormatPerf, "app-?;main;leaf 100\n"},
		{"perf no -g", []byte("             app  1 1.0:          5 cycles:u:  ffff f+0x1 (/x)\n"), ReadOptions{}, FormatPerf, "app;f 5\n"},
		{"folded", []byte("\nmain;a 2\nmain;b 1.5\n"), ReadOptions{}, FormatFolded, "main;a 2\n"},
		{"folded gzip", gzipBytes(t, []byte("main;a 2\n")), ReadOptions{}, FormatFolded, "main;a 2\n"},
		{"folded CRLF", []byte("main;a 2\r\n"), ReadOptions{}, FormatFolded, "main;a 2\n"},
		{"forced folded", []byte("app 10 1.0: 100 cycles: 3\n"), ReadOptions{Format: FormatFolded}, FormatFolded, "app 10 1.0: 100 cycles: 3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, f, err := Read(bytes.NewReader(tt.in), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if f != tt.format {
				t.Errorf("format %q, want %q", f, tt.format)
			}
			if got := folded(t, p); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got\n%s\nwant prefix\n%s", got, tt.want)
			}
		})
	}
}

func TestReadBadInput(t *testing.T) {
	perfGz := gzipBytes(t, bytes.Repeat([]byte(perfSample), 2000))
	tests := []struct {
		name string
		in   []byte
		opt  ReadOptions
		want string
	}{
		{"empty", nil, ReadOptions{}, "parsing profile: empty input"},
		{"empty gzip", gzipBytes(t, nil), ReadOptions{}, "parsing profile: empty input (after gzip)"},
		{"truncated gzip perf", perfGz[:len(perfGz)/2], ReadOptions{}, "parsing perf script: line "},
		{"bad gzip header", []byte{0x1f, 0x8b, 9}, ReadOptions{}, "parsing profile: reading gzip header"},
		{"binary garbage", []byte("\x00\x01\x02\x03\xff\xfe garbage"), ReadOptions{}, "parsing pprof profile: not a pprof protobuf"},
		{"unknown text", []byte("\nhello world\n"), ReadOptions{}, `parsing profile: line 2: unrecognized format: "hello world" is neither`},
		{"folded without count", []byte("main;a 1\nmain;b\n"), ReadOptions{}, "parsing folded stacks: line 2: missing count"},
		{"perf broken record", []byte(perfSample + "app 10 1.0: 100 cycles:\n\tnonsense\n\n"), ReadOptions{}, `parsing perf script: line 6: unrecognized line "\tnonsense"`},
		{"unknown format", []byte(perfSample), ReadOptions{Format: "json"}, `reading profile: unknown format "json"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Read(bytes.NewReader(tt.in), tt.opt)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			var pe *ParseError
			if tt.name != "unknown format" && !errors.As(err, &pe) {
				t.Errorf("%v is not a *ParseError", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of more than one line: %q", err)
			}
		})
	}
}

// TestReadTruncatedGzipNamesGzip: the error says what is wrong with the data.
func TestReadTruncatedGzipNamesGzip(t *testing.T) {
	for _, in := range [][]byte{
		gzipBytes(t, bytes.Repeat([]byte(perfSample), 2000)),
		gzipBytes(t, bytes.Repeat([]byte("main;a 1\n"), 20000)),
		gzipBytes(t, encodePprof(t, testPprof(), false)),
	} {
		_, _, err := Read(bytes.NewReader(in[:len(in)-10]), ReadOptions{})
		if err == nil || !strings.Contains(err.Error(), "truncated or corrupt gzip data") {
			t.Errorf("got %v", err)
		}
	}
}

// TestReadStreams: detection reads only its window before the format's
// reader takes over, so an input far larger than the window is read in
// pieces, never whole.
func TestReadStreams(t *testing.T) {
	const n = 200000 // ~6 MB of perf script
	r := &countingReader{r: &repeatReader{s: perfSample, n: n}}
	p, f, err := Read(r, ReadOptions{})
	if err != nil || f != FormatPerf || p.Total() != 100*n {
		t.Fatalf("got %v %v %v", f, p.Total(), err)
	}
	if r.maxRead > 1<<20 {
		t.Errorf("largest read %d bytes: input buffered whole?", r.maxRead)
	}
}

type countingReader struct {
	r       io.Reader
	maxRead int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.maxRead = max(c.maxRead, len(p))
	return c.r.Read(p)
}

func TestDetect(t *testing.T) {
	tests := []struct {
		in    string
		whole bool
		want  Format
		line  int
	}{
		{"a;b 1\n", true, FormatFolded, 0},
		{"a;b 1", true, FormatFolded, 0},
		{"a;b 1", false, FormatFolded, 0}, // partial line, nothing else: fallback
		{"java 1 1.0: cycles:\n", false, FormatPerf, 0},
		{"# header only\n", true, FormatPerf, 0},
		{"\n\n", true, FormatFolded, 0},
		{"\x0a\x04\x08\x01\x10\x02", true, FormatPprof, 0},
		{"caf\xc3\xa9;b 1\n", true, FormatFolded, 0},
		{"caf\xc3", false, FormatFolded, 0}, // a rune cut by the window
		{"\xff\xfe", true, FormatPprof, 0},
		{"what is this\n", true, "", 1},
	}
	for _, tt := range tests {
		f, line := Detect([]byte(tt.in), tt.whole)
		if f != tt.want || line != tt.line {
			t.Errorf("Detect(%q, %v) = %q, %d; want %q, %d", tt.in, tt.whole, f, line, tt.want, tt.line)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(perfSample))
	f.Add([]byte("main;a 2\nmain;b 1\n"))
	f.Add(encodePprof(f, testPprof(), false))
	f.Add(encodePprof(f, testPprof(), true))
	f.Add(gzipBytes(f, []byte(perfSample)))
	f.Add([]byte("             app  1 1.0:          5 cycles:u:  ffff f+0x1 (/x)\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, format, err := Read(bytes.NewReader(in), ReadOptions{Pprof: PprofOptions{ByLabel: "unit"}})
		if err != nil {
			if p != nil {
				t.Fatal("profile with an error")
			}
			return
		}
		switch format {
		case FormatPprof, FormatPerf, FormatFolded:
		default:
			t.Fatalf("format %q", format)
		}
		var b bytes.Buffer
		if err := WriteFolded(&b, p); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDetectPeers: every capture of the peer corpus is detected as perf
// script, and every expected result as folded stacks.
func TestDetectPeers(t *testing.T) {
	for _, pattern := range []string{"flamegraph-pl/test/*.txt", "inferno/collapse-perf/*.txt", "flamegraph-pl/test/results/*.txt", "inferno/collapse-perf/results/*.txt"} {
		files, _ := filepath.Glob(filepath.Join(peersDir, pattern))
		if len(files) == 0 {
			t.Fatalf("no peer files %s", pattern)
		}
		want := FormatPerf
		if strings.Contains(pattern, "results") {
			want = FormatFolded
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) == 0 || bytes.Equal(b, []byte("\n")) {
				continue // no-events
			}
			if len(b) > DetectWindow {
				b = b[:DetectWindow]
			}
			if got, line := Detect(b, len(b) < DetectWindow); got != want {
				t.Errorf("%s: detected %q (line %d), want %q", f, got, line, want)
			}
		}
	}
}
