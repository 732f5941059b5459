package flame

import (
	"bytes"
	"testing"
)

// FuzzReadPprof feeds mutated pprof protobufs (raw and gzipped) to ReadPprof:
// it must return a profile or a *ParseError, never panic; and wherever
// google/pprof accepts the input, the direct decoder must agree with it.
func FuzzReadPprof(f *testing.F) {
	f.Add(encodePprof(f, testPprof(), false), "")
	f.Add(encodePprof(f, testPprof(), true), "unit")
	f.Add(encodePprof(f, benchPprof(50, 10, 20), false), "unit")
	f.Fuzz(func(t *testing.T, in []byte, label string) {
		comparePprofDecoders(t, in, PprofOptions{ByLabel: label})
		p, err := ReadPprof(bytes.NewReader(in), PprofOptions{ByLabel: label})
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		p.Each(func(stack string, v float64) {})
	})
}
