package flame

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// examplePerf returns FlameGraph's example-perf-stacks capture (37,158
// lines, 3.1 MB; the input of inferno's collapse benchmark) repeated n times.
func examplePerf(b *testing.B, n int) []byte {
	b.Helper()
	gz, err := os.ReadFile(filepath.Join(peersDir, "flamegraph-pl/example-perf-stacks.txt.gz"))
	if err != nil {
		b.Skipf("peer corpus: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		b.Fatal(err)
	}
	one, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	return bytes.Repeat(one, n)
}

// BenchmarkReadPerf is perf script -> folded (read, collapse, write) on the
// example capture repeated 20 times (63 MB), the input bench/collapse.sh
// gives stackcollapse-perf.pl.
func BenchmarkReadPerf(b *testing.B) {
	data := examplePerf(b, 20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		p, err := ReadPerf(bytes.NewReader(data), PerfOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteFolded(io.Discard, p); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0)
}

// BenchmarkReadPerfAll: the same with --all annotations.
func BenchmarkReadPerfAll(b *testing.B) {
	data := examplePerf(b, 20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := ReadPerf(bytes.NewReader(data), PerfOptions{All: true}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0)
}

// reportCPU reports the CPU time per operation since cpu0 ("cpu-ms/op").
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if d := cpuTime() - cpu0; d > 0 && b.N > 0 {
		b.ReportMetric(float64(d.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}
