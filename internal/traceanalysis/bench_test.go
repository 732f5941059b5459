package traceanalysis

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"golang.org/x/exp/trace"
)

// benchTrace is the trace the benchmarks read: $HOTLOOP_LOAD_TRACE if set
// (see TestWriteLoadTrace), otherwise a 4 MB load trace recorded here.
func benchTrace(b *testing.B) []byte {
	b.Helper()
	if path := os.Getenv("HOTLOOP_LOAD_TRACE"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		return data
	}
	var buf bytes.Buffer
	recordLoad(b, &buf, 4<<20)
	return buf.Bytes()
}

// BenchmarkParse is the anchor: reading every event with x/exp/trace and
// doing nothing with it.
func BenchmarkParse(b *testing.B) {
	data := benchTrace(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		r, err := trace.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.ReadEvent()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAnalyze is the whole analysis, profiles and findings included.
func BenchmarkAnalyze(b *testing.B) {
	data := benchTrace(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Analyze(context.Background(), bytes.NewReader(data), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
