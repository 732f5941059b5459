package findings

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hotloop/hotloop/inspect"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"},
		{850, "850ns"},
		{12345, "12.3µs"},
		{412345678, "412ms"},
		{999600 * time.Microsecond, "1s"},
		{1250 * time.Millisecond, "1.25s"},
		{20 * time.Millisecond, "20ms"},
		{2 * time.Minute, "2m0s"},
		{time.Hour + 3*time.Minute + 20*time.Second + 400*time.Millisecond, "1h3m20s"},
		{-5 * time.Millisecond, "-5ms"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%d) = %q, want %q", int64(tc.d), got, tc.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n    float64
		want string
	}{
		{0, "0 B"},
		{512, "512 B"},
		{1500, "1.5 kB"},
		{3.1e9, "3.1 GB"},
		{999.96e6, "1.0 GB"},
		{-2e6, "-2.0 MB"},
	} {
		if got := FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%v) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		e    Evidence
		want string
	}{
		{Evidence{Value: 0.412, Unit: "seconds"}, "412ms"},
		{Evidence{Value: 3.1e9, Unit: "bytes"}, "3.1 GB"},
		{Evidence{Value: 9.04, Unit: "ratio"}, "9.04x"},
		{Evidence{Value: 0.25, Unit: "fraction"}, "25%"},
		{Evidence{Value: 12, Unit: "count"}, "12"},
		{Evidence{Value: 1.5, Unit: "widgets"}, "1.5 widgets"},
		{Evidence{Value: 7, Text: "seven"}, "seven"},
		{Evidence{Value: math.Inf(1), Unit: "seconds"}, "+Inf"},
	} {
		if got := FormatValue(tc.e); got != tc.want {
			t.Errorf("FormatValue(%+v) = %q, want %q", tc.e, got, tc.want)
		}
	}
}

func sample() []Finding {
	return []Finding{
		{Kind: GC, Title: "unit get p99 is 9x higher in windows overlapping a GC cycle", Unit: "get",
			Evidence: []Evidence{{Name: "p99 ratio", Value: 9, Unit: "ratio"}, {Name: "live heap", Value: 3.1e9, Unit: "bytes"}},
			Advice:   "shrink the pointer-heavy heap", Score: 5},
		{Kind: Starvation, Title: "goroutine 17 held a P for 120ms",
			Culprit: inspect.Frame{Function: "main.rewrite", File: "/src/fwd/main.go", Line: 42}, Goroutine: 17, Unit: "forward",
			Evidence: []Evidence{{Name: "max lag", Value: 0.12, Unit: "seconds"}, {Name: "events", Value: 12, Unit: "count"}},
			Advice:   "yield with inspect.Budget or split the work", Score: 10},
		{Kind: Stall, Title: "b", Score: 5, Culprit: inspect.Frame{Function: "a.b"}},
		{Kind: Stall, Title: "a", Score: 5, Culprit: inspect.Frame{Function: "a.a"}},
		{Kind: Idle, Title: "nan", Score: math.NaN()},
	}
}

func TestRankDeterministic(t *testing.T) {
	want := sample()
	Rank(want)
	order := []string{}
	for _, f := range want {
		order = append(order, f.Title)
	}
	wantOrder := []string{"goroutine 17 held a P for 120ms", "unit get p99 is 9x higher in windows overlapping a GC cycle", "a", "b", "nan"}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Fatalf("Rank order = %q, want %q", order, wantOrder)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 50; i++ {
		fs := sample()
		r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
		Rank(fs)
		for k := range fs {
			if fs[k].Title != want[k].Title {
				t.Fatalf("shuffle %d: position %d = %q, want %q", i, k, fs[k].Title, want[k].Title)
			}
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update to refresh):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestWriteTextGolden(t *testing.T) {
	fs := sample()
	Rank(fs)
	var b bytes.Buffer
	if err := WriteText(&b, fs); err != nil {
		t.Fatal(err)
	}
	golden(t, "findings.txt", b.Bytes())

	b.Reset()
	if err := WriteText(&b, nil); err != nil {
		t.Fatal(err)
	}
	if b.String() != "no findings\n" {
		t.Errorf("empty list: %q", b.String())
	}
}

func TestWriteJSONGolden(t *testing.T) {
	fs := sample()
	Rank(fs)
	var b bytes.Buffer
	if err := WriteJSON(&b, fs); err != nil {
		t.Fatal(err)
	}
	golden(t, "findings.json", b.Bytes())

	var doc struct {
		Findings []Finding `json:"findings"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("output is not valid JSON: %v", err)
	}
	if len(doc.Findings) != len(fs) || doc.Findings[0].Culprit.Line != 42 {
		t.Errorf("round trip lost data: %+v", doc.Findings)
	}
	if fs[0].Evidence[0].Text != "" {
		t.Error("WriteJSON modified its input")
	}

	b.Reset()
	if err := WriteJSON(&b, nil); err != nil {
		t.Fatal(err)
	}
	if b.String() != "{\n  \"findings\": []\n}\n" {
		t.Errorf("empty list: %q", b.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteErrors(t *testing.T) {
	if err := WriteText(failWriter{}, sample()); err == nil {
		t.Error("WriteText: want error from writer")
	}
	if err := WriteJSON(failWriter{}, sample()); err == nil {
		t.Error("WriteJSON: want error from writer")
	}
}
