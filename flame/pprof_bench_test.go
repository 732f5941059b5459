package flame

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// benchPprof generates a CPU profile shaped like a Go service's: nSamples
// sample records over nPaths distinct code paths through a call graph of
// 2,000 functions in runtime, standard library and module packages. Paths
// are 8 to maxDepth frames deep, a third of the locations have an inlined
// callee, calls follow hot paths (a function calls its first callee 70% of
// the time, its second 20%, its third 10%), samples pick paths with a Zipf
// law as real time concentrates in few paths, and 90% carry a "unit" label
// among 7 values, which makes more distinct records as Go's profiler does.
// nPaths == nSamples gives every sample its own random path: the worst case.
// Deterministic: the same arguments give the same profile.
func benchPprof(nSamples, nPaths, maxDepth int) *profile.Profile {
	rng := rand.New(rand.NewPCG(1, 2))
	pkgs := []string{"runtime", "net/http", "encoding/json", "bufio", "sync", "syscall", "internal/poll",
		"github.com/acme/forwarder/internal/relay", "github.com/acme/forwarder/internal/syslog", "main"}
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        10_000_000,
		DurationNanos: int64(nSamples) * 10_000_000 / 8,
		TimeNanos:     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(),
	}
	m := &profile.Mapping{ID: 1, Start: 0x400000, Limit: 0x4000000, File: "/srv/forwarder", HasFunctions: true, HasFilenames: true, HasLineNumbers: true}
	p.Mapping = []*profile.Mapping{m}
	const nFuncs = 2000
	for i := 0; i < nFuncs; i++ {
		pkg := pkgs[i%len(pkgs)]
		p.Function = append(p.Function, &profile.Function{
			ID: uint64(i + 1), Name: fmt.Sprintf("%s.(*T%d).method%d", pkg, i%37, i), Filename: pkg + "/file.go", StartLine: int64(i),
		})
	}
	callees := make([][]int, nFuncs)
	for i := range callees {
		for k := 0; k < 3; k++ {
			callees[i] = append(callees[i], rng.IntN(nFuncs))
		}
	}
	locOf := map[[2]int]*profile.Location{} // (function, call site) -> location
	loc := func(fn, site int) *profile.Location {
		if l, ok := locOf[[2]int{fn, site}]; ok {
			return l
		}
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Mapping: m, Address: uint64(0x400000 + len(p.Location)*16)}
		if site%3 == 0 {
			// An inlined callee first, then its caller.
			l.Line = append(l.Line, profile.Line{Function: p.Function[(fn+1)%nFuncs], Line: int64(site)})
		}
		l.Line = append(l.Line, profile.Line{Function: p.Function[fn], Line: int64(100 + site)})
		locOf[[2]int{fn, site}] = l
		p.Location = append(p.Location, l)
		return l
	}
	paths := make([][]*profile.Location, nPaths)
	for i := range paths {
		depth := 8 + rng.IntN(maxDepth-7)
		fn := rng.IntN(8) // a few roots
		stack := make([]*profile.Location, depth)
		for d := depth - 1; d >= 0; d-- {
			site := 0
			switch r := rng.IntN(10); {
			case r >= 9:
				site = 2
			case r >= 7:
				site = 1
			}
			stack[d] = loc(fn, site)
			fn = callees[fn][site]
		}
		paths[i] = stack
	}
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(nPaths-1))
	units := []string{"decode", "rewrite", "publish", "accept", "flush", "gc", "idle"}
	for i := 0; i < nSamples; i++ {
		path := paths[zipf.Uint64()]
		if nPaths >= nSamples {
			path = paths[i]
		}
		n := int64(1 + rng.IntN(3))
		s := &profile.Sample{Location: path, Value: []int64{n, n * 10_000_000}}
		if i%10 != 0 {
			s.Label = map[string][]string{"unit": {units[rng.IntN(len(units))]}}
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

func BenchmarkReadPprof100k(b *testing.B) {
	data := encodePprof(b, benchPprof(100_000, 20_000, 64), true)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := ReadPprof(bytes.NewReader(data), PprofOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0)
}

// BenchmarkPprofToSVG100k is the target: a 100k-sample pprof profile
// (gzipped, as Go writes it) read and rendered as an SVG, under 300 ms.
func BenchmarkPprofToSVG100k(b *testing.B) { benchPprofToSVG(b, 20_000) }

// BenchmarkPprofToSVG100kDistinct is the worst case: 100k samples on 100k
// distinct random paths (some 4 million tree nodes); no real profile is
// this flat.
func BenchmarkPprofToSVG100kDistinct(b *testing.B) { benchPprofToSVG(b, 100_000) }

// benchPprofToSVG reads and renders a 100k-sample profile drawn from nPaths
// code paths, reporting CPU time per op beside wall time.
func benchPprofToSVG(b *testing.B, nPaths int) {
	data := encodePprof(b, benchPprof(100_000, nPaths, 64), true)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		p, err := ReadPprof(bytes.NewReader(data), PprofOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteSVG(io.Discard, p, SVGOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0)
}
