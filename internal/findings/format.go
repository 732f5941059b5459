package findings

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rank sorts fs in place, worst first: by Score descending, then by a fixed
// tie-break (kind, culprit function, file, line, unit, goroutine, title) so the
// same findings always print in the same order, whatever order they were built in.
func Rank(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool { return less(&fs[i], &fs[j]) })
}

func less(a, b *Finding) bool {
	if a.Score != b.Score {
		// NaN sorts last.
		if math.IsNaN(a.Score) {
			return false
		}
		if math.IsNaN(b.Score) {
			return true
		}
		return a.Score > b.Score
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Culprit.Function != b.Culprit.Function {
		return a.Culprit.Function < b.Culprit.Function
	}
	if a.Culprit.File != b.Culprit.File {
		return a.Culprit.File < b.Culprit.File
	}
	if a.Culprit.Line != b.Culprit.Line {
		return a.Culprit.Line < b.Culprit.Line
	}
	if a.Unit != b.Unit {
		return a.Unit < b.Unit
	}
	if a.Goroutine != b.Goroutine {
		return a.Goroutine < b.Goroutine
	}
	return a.Title < b.Title
}

// WriteText writes fs for people, in the order given (call Rank first):
//
//  1. scheduler starvation: goroutine 17 held a P for 120ms
//     culprit: main.rewrite (/src/fwd/main.go:42)
//     unit: forward
//     evidence: max lag 120ms · events 12 · p99 lag 80ms
//     advice: yield with inspect.Budget or split the work
//
// An empty list writes "no findings".
func WriteText(w io.Writer, fs []Finding) error {
	var b strings.Builder
	if len(fs) == 0 {
		b.WriteString("no findings\n")
	}
	for i, f := range fs {
		if i > 0 {
			b.WriteByte('\n')
		}
		title := f.Title
		if title == "" {
			title = string(f.Kind)
		}
		fmt.Fprintf(&b, "%d. %s: %s\n", i+1, f.Kind, oneLine(title))
		if f.Culprit.Function != "" {
			fmt.Fprintf(&b, "   culprit: %s", f.Culprit.Function)
			if f.Culprit.File != "" {
				fmt.Fprintf(&b, " (%s:%d)", f.Culprit.File, f.Culprit.Line)
			}
			b.WriteByte('\n')
		}
		if f.Unit != "" {
			fmt.Fprintf(&b, "   unit: %s\n", oneLine(f.Unit))
		}
		if f.Goroutine != 0 {
			fmt.Fprintf(&b, "   goroutine: %d\n", f.Goroutine)
		}
		if len(f.Evidence) > 0 {
			b.WriteString("   evidence: ")
			for j, e := range f.Evidence {
				if j > 0 {
					b.WriteString(" · ")
				}
				fmt.Fprintf(&b, "%s %s", oneLine(e.Name), FormatValue(e))
			}
			b.WriteByte('\n')
		}
		if f.Advice != "" {
			fmt.Fprintf(&b, "   advice: %s\n", oneLine(f.Advice))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// jsonDoc is the stable machine form: an object so fields can be added later
// without breaking readers.
type jsonDoc struct {
	Findings []Finding `json:"findings"`
}

// WriteJSON writes fs as {"findings":[...]} (indented, no HTML escaping, always
// an array, never null), in the order given. Evidence values that are not
// finite (NaN, ±Inf) are written as 0 so the output stays valid JSON.
func WriteJSON(w io.Writer, fs []Finding) error {
	out := make([]Finding, len(fs))
	for i, f := range fs {
		out[i] = f
		if !finite(f.Score) {
			out[i].Score = 0
		}
		if len(f.Evidence) > 0 {
			ev := make([]Evidence, len(f.Evidence))
			copy(ev, f.Evidence)
			for j := range ev {
				if !finite(ev[j].Value) {
					ev[j].Value = 0
				}
				if ev[j].Text == "" {
					ev[j].Text = FormatValue(ev[j])
				}
			}
			out[i].Evidence = ev
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jsonDoc{Findings: out}); err != nil {
		return fmt.Errorf("writing findings as JSON: %w", err)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// FormatValue formats an evidence figure as people read it: e.Text when set,
// otherwise e.Value by its unit ("seconds" as a duration, "bytes" with SI
// prefixes, "ratio" as "9.1x", "fraction" as a percentage, "count" as an integer).
func FormatValue(e Evidence) string {
	if e.Text != "" {
		return e.Text
	}
	v := e.Value
	if !finite(v) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	switch e.Unit {
	case "seconds":
		return FormatDuration(time.Duration(v * float64(time.Second)))
	case "bytes":
		return FormatBytes(v)
	case "ratio":
		return trimFloat(v, 3) + "x"
	case "fraction":
		return trimFloat(v*100, 3) + "%"
	case "count", "":
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return trimFloat(v, 3)
	default:
		return trimFloat(v, 3) + " " + e.Unit
	}
}

// FormatDuration formats d with three significant digits in the largest unit
// that keeps the number >= 1 ("850ns", "12.3µs", "412ms", "1.25s"); a minute or
// more is rounded to the second in Go's own form ("2m0s", "1h3m20s").
func FormatDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d >= time.Minute:
		s = d.Round(time.Second).String()
	case d >= time.Second-time.Millisecond/2: // 999.6ms reads as 1s, not 1000ms
		s = trimFloat(d.Seconds(), 3) + "s"
	case d >= time.Millisecond-time.Microsecond/2:
		s = trimFloat(float64(d)/1e6, 3) + "ms"
	case d >= time.Microsecond-time.Nanosecond/2:
		s = trimFloat(float64(d)/1e3, 3) + "µs"
	default:
		s = strconv.FormatInt(int64(d), 10) + "ns"
	}
	if neg {
		return "-" + s
	}
	return s
}

// FormatBytes formats n bytes with decimal SI prefixes and one decimal ("512 B",
// "1.5 kB", "3.1 GB"), the way memory figures are quoted in findings.
func FormatBytes(n float64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	i := 0
	for n >= 999.95 && i < len(units)-1 {
		n /= 1000
		i++
	}
	var s string
	if i == 0 {
		s = strconv.FormatFloat(math.Round(n), 'f', 0, 64) + " B"
	} else {
		s = strconv.FormatFloat(n, 'f', 1, 64) + " " + units[i]
	}
	if neg {
		return "-" + s
	}
	return s
}

// trimFloat formats v with sig significant digits (at least the integer part)
// and no trailing zeros: 412.3 -> "412", 1.250 -> "1.25", 9 -> "9".
func trimFloat(v float64, sig int) string {
	if v == 0 {
		return "0"
	}
	mag := int(math.Floor(math.Log10(math.Abs(v)))) + 1
	dec := sig - mag
	if dec < 0 {
		dec = 0
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s
}
