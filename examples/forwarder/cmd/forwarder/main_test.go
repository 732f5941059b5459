package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hotloop/hotloop/inspect.(*Monitor).watch"))
}

// TestRunWithLoad runs the command end to end: listener, load, file sink.
func TestRunWithLoad(t *testing.T) {
	for _, fix := range []string{"-fix=false", "-fix=true"} {
		t.Run(fix, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.jsonl")
			var stderr strings.Builder
			code := run([]string{"-listen", "127.0.0.1:0", "-sink", out, fix, "-load", "300ms", "-conns", "2", "-burst", "2000", "-pause", "50ms"}, &stderr)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr.String())
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			n := 0
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var rec map[string]any
				if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
					t.Fatalf("record %d: %v", n, err)
				}
				n++
			}
			var lines, probes int
			i := strings.Index(stderr.String(), "load: ")
			if i < 0 {
				t.Fatalf("no load line:\n%s", stderr.String())
			}
			if _, err := fmt.Sscanf(stderr.String()[i:], "load: %d lines and %d probe lines", &lines, &probes); err != nil {
				t.Fatal(err)
			}
			if n == 0 || n != lines+probes {
				t.Errorf("%d records in the sink, %d+%d lines sent\n%s", n, lines, probes, stderr.String())
			}
			if !strings.Contains(stderr.String(), ", 0 malformed") {
				t.Errorf("stderr: %s", stderr.String())
			}
		})
	}
}

func TestRunBadUsage(t *testing.T) {
	var stderr strings.Builder
	if code := run([]string{"-listen", "127.0.0.1:0"}, &stderr); code != 2 {
		t.Errorf("no -sink: exit %d", code)
	}
	if code := run([]string{"-nope"}, &stderr); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
}
