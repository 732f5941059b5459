package flame

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

var bigFoldedOut = flag.String("bigfolded", "", "BenchmarkFoldedToSVG also writes its ~64 MB input to this path (bench/flame.sh times the CLI and flamegraph.pl on it)")

// bigFoldedSize is the size of the benchmark input: the "~64 MB / ~100k lines".
const bigFoldedSize = 64 << 20

// writeBigFolded writes a realistic large folded file of at least size bytes
// by replicating real captures: every collapsed result of the FlameGraph
// and inferno corpora (perf script captures of Java, Node, Rust, Go, C,
// kernel-heavy workloads). Copy k renames each stack's root frame to
// "root-k", as stackcollapse-perf.pl --pid names processes, so copies are
// distinct stacks (as from k hosts) rather than merging into one.
func writeBigFolded(w io.Writer, size int64) (lines int, written int64, err error) {
	var srcs []string
	for _, g := range []string{svgPeersDir + "/flamegraph-pl/test/results/*.txt", svgPeersDir + "/inferno/collapse-perf/results/*.txt"} {
		m, _ := filepath.Glob(g)
		srcs = append(srcs, m...)
	}
	sort.Strings(srcs)
	var corpus [][]byte
	for _, s := range srcs {
		b, err := os.ReadFile(s)
		if err != nil {
			return 0, 0, err
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			if _, _, msg := parseFoldedLine(l); msg == "" {
				corpus = append(corpus, l)
			}
		}
	}
	if len(corpus) == 0 {
		return 0, 0, fmt.Errorf("no folded corpus under %s", svgPeersDir)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	for k := 1; written < size; k++ {
		for _, l := range corpus {
			i := bytes.IndexAny(l, "; ")
			n, _ := fmt.Fprintf(bw, "%s-%d%s\n", l[:i], k, l[i:])
			written += int64(n)
			lines++
		}
	}
	return lines, written, bw.Flush()
}

// BenchmarkFoldedToSVG measures folded text -> SVG: parsing, merging into the
// tree, layout and rendering, on the ~64 MB input. Run with -cpu 1.
func BenchmarkFoldedToSVG(b *testing.B) {
	var in bytes.Buffer
	lines, _, err := writeBigFolded(&in, bigFoldedSize)
	if err != nil {
		b.Skip(err)
	}
	data := in.Bytes()
	if *bigFoldedOut != "" {
		if err := os.WriteFile(*bigFoldedOut, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var svgSize int
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		p, err := ReadFolded(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		cw := &countWriter{}
		if err := WriteSVG(cw, p, SVGOptions{}); err != nil {
			b.Fatal(err)
		}
		svgSize = cw.n
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(len(data))*float64(b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
	}
	b.ReportMetric(float64(lines), "lines")
	b.ReportMetric(float64(svgSize), "svg-bytes")
}

// BenchmarkReadFolded is the parsing half of BenchmarkFoldedToSVG.
func BenchmarkReadFolded(b *testing.B) {
	var in bytes.Buffer
	if _, _, err := writeBigFolded(&in, 16<<20); err != nil {
		b.Skip(err)
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ReadFolded(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// BenchmarkWriteFolded measures writing the ~64 MB input's profile back as
// folded text (what `hotloop collapse` does after reading).
func BenchmarkWriteFolded(b *testing.B) {
	var in bytes.Buffer
	if _, _, err := writeBigFolded(&in, bigFoldedSize); err != nil {
		b.Skip(err)
	}
	p, err := ReadFolded(bytes.NewReader(in.Bytes()))
	if err != nil {
		b.Fatal(err)
	}
	cw := &countWriter{}
	if err := WriteFolded(cw, p); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(cw.n))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFolded(io.Discard, p); err != nil {
			b.Fatal(err)
		}
	}
}
