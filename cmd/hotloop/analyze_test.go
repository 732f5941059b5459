package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	rtrace "runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"go.uber.org/goleak"
)

func analyzeCLI(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runContext(context.Background(), append([]string{"analyze"}, args...), &streams{in: bytes.NewReader(stdin), out: &out, errOut: &errOut})
	return code, out.String(), errOut.String()
}

//go:noinline
func analyzeTestWait(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock() //nolint:staticcheck // the wait is the point
}

// testTrace records a small real program: goroutines contending on a mutex.
func testTrace(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	mu.Lock()
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); analyzeTestWait(&mu) }()
	}
	time.Sleep(30 * time.Millisecond) // how long they wait
	mu.Unlock()
	wg.Wait()
	rtrace.Stop()
	return buf.Bytes()
}

func TestAnalyzeCommand(t *testing.T) {
	defer goleak.VerifyNone(t)
	data := testTrace(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "trace.out")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "prof")

	code, stdout, stderr := analyzeCLI(t, nil, path, "-o", outDir)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("people text on stdout: %q", stdout)
	}
	for _, want := range []string{"traced", "off-CPU by reason", "sync.Mutex.Lock", "blocked on mutex", "analyzeTestWait", "wrote "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, name := range []string{"offcpu.pb.gz", "schedlat.pb.gz", "oncpu.pb.gz"} {
		f, err := os.Open(filepath.Join(outDir, name))
		if err != nil {
			t.Fatal(err)
		}
		p, err := profile.Parse(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "offcpu.pb.gz" && (len(p.Sample) == 0 || p.SampleType[1].Type != "off-cpu" || p.SampleType[1].Unit != "nanoseconds") {
			t.Errorf("offcpu.pb.gz: %d samples, types %v", len(p.Sample), p.SampleType)
		}
	}

	// The contract: go tool pprof opens what we write.
	if goBin, err := exec.LookPath("go"); err != nil {
		t.Logf("go not on PATH: not checking the profiles with go tool pprof")
	} else {
		out, err := exec.Command(goBin, "tool", "pprof", "-top", filepath.Join(outDir, "offcpu.pb.gz")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "[sync.Mutex.Lock]") {
			t.Errorf("go tool pprof -top offcpu.pb.gz: %v\n%s", err, out)
		}
	}

	// JSON on stdout, from standard input; --top limits it.
	code, stdout, stderr = analyzeCLI(t, data, "-", "--json", "--top", "1")
	if code != exitOK {
		t.Fatalf("--json: exit %d, stderr:\n%s", code, stderr)
	}
	var doc struct {
		Findings []struct {
			Kind    string `json:"kind"`
			Culprit struct {
				Function string `json:"function"`
			} `json:"culprit"`
		} `json:"findings"`
		Trace struct {
			Duration float64 `json:"duration_seconds"`
			Waits    []struct {
				Reason string  `json:"reason"`
				Count  int64   `json:"count"`
				Total  float64 `json:"total_seconds"`
			} `json:"waits"`
		} `json:"trace"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	if len(doc.Findings) != 1 {
		t.Errorf("--top 1 gave %d findings", len(doc.Findings))
	}
	// Four goroutines each waited about 30ms for the mutex.
	mutex := false
	for _, w := range doc.Trace.Waits {
		if w.Reason == "sync.Mutex.Lock" && w.Count >= 4 && w.Total >= 4*0.020 {
			mutex = true
		}
	}
	if doc.Trace.Duration <= 0 || !mutex {
		t.Errorf("trace figures lack the mutex waits: %+v", doc.Trace)
	}
}

func TestAnalyzeNoIdle(t *testing.T) {
	data := testTrace(t)
	dir := t.TempDir()
	code, _, stderr := analyzeCLI(t, data, "-", "--no-idle", "-o", dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := os.Open(filepath.Join(dir, "offcpu.pb.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Sample {
		if s.Label["idle"][0] == "true" {
			t.Fatalf("--no-idle kept an idle sample")
		}
	}
}

func TestAnalyzeBadInput(t *testing.T) {
	data := testTrace(t)
	dir := t.TempDir()
	cases := []struct {
		name string
		in   []byte
		args []string
		want string
	}{
		{"garbage", []byte("hello\n"), nil, "parsing execution trace"},
		{"truncated", data[:len(data)/3], nil, "parsing execution trace"},
		{"empty", nil, nil, "parsing execution trace"},
		{"missing file", nil, []string{filepath.Join(dir, "nope")}, "no such file"},
		{"no argument", nil, []string{}, "accepts 1 arg"},
		{"negative top", data, []string{"-", "--top", "-1"}, "--top"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outDir := filepath.Join(t.TempDir(), "prof")
			args := c.args
			if args == nil {
				args = []string{"-"}
			}
			code, stdout, stderr := analyzeCLI(t, c.in, append(args, "-o", outDir)...)
			if code != exitBadUse {
				t.Errorf("exit %d, want %d", code, exitBadUse)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "hotloop: ") || !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q: want one line naming %q", stderr, c.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if _, err := os.Stat(outDir); !os.IsNotExist(err) {
				t.Errorf("output directory exists after bad input (err %v)", err)
			}
		})
	}
}
