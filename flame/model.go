package flame

import (
	"fmt"
	"sort"
)

// Profile is the model every reader produces and every writer consumes: call
// stacks, root first, each with a weight (samples, nanoseconds, bytes, ...).
// Identical stacks are merged on Add.
//
// A stack is kept in folded form: frame names joined by ';'. Frame names
// therefore never contain ';' (readers replace it).
type Profile struct {
	// Unit names what a value counts, as flamegraph.pl's --countname:
	// "samples", "nanoseconds", "bytes", ...
	Unit string

	stacks map[string]float64
	total  float64
}

// NewProfile returns an empty profile whose values count unit.
func NewProfile(unit string) *Profile {
	return &Profile{Unit: unit, stacks: make(map[string]float64)}
}

// Add adds value to the stack given in folded form (frames joined by ';', root first).
func (p *Profile) Add(stack string, value float64) {
	if p.stacks == nil {
		p.stacks = make(map[string]float64)
	}
	p.stacks[stack] += value
	p.total += value
}

// Len is the number of distinct stacks.
func (p *Profile) Len() int { return len(p.stacks) }

// Total is the sum of all values.
func (p *Profile) Total() float64 { return p.total }

// Each calls fn for every distinct stack in byte order of the folded stack,
// the order stackcollapse-perf.pl prints and flamegraph.pl lays frames out in.
func (p *Profile) Each(fn func(stack string, value float64)) {
	keys := make([]string, 0, len(p.stacks))
	for k := range p.stacks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fn(k, p.stacks[k])
	}
}

// ParseError is a reader's complaint about its input. Its text names the
// operation, and the line where there is one:
// "parsing folded stacks: line 12: missing count".
type ParseError struct {
	Format string // "folded stacks", "perf script", "pprof profile"
	Line   int    // 1-based; 0 when the input has no lines (pprof) or the error is about the whole input
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("parsing %s: line %d: %s", e.Format, e.Line, e.Msg)
	}
	return fmt.Sprintf("parsing %s: %s", e.Format, e.Msg)
}
