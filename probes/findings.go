package probes

import (
	"fmt"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
)

// Events returns the events kept so far (at most Config.MaxEvents, oldest first).
func (p *Probes) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Event, 0, len(p.events))
	out = append(out, p.events[p.next:]...)
	return append(out, p.events[:p.next]...)
}

// Findings builds the ranked findings from the events kept so far: one per
// starving culprit function, one per stalled unit and culprit, and the GC
// correlation findings. Score is the delay, in seconds, attributed to the
// finding; the list is ranked with findings.Rank.
func (p *Probes) Findings() []Finding {
	fs := FindingsFromEvents(p.Events())
	for i := range fs {
		f := &fs[i]
		if f.Kind != findings.Stall {
			continue
		}
		// Done reports know how long the stalled runs really took.
		if d, ok := p.stallMax(f.Unit, f.Culprit.Function); ok {
			for j := range f.Evidence {
				if e := &f.Evidence[j]; e.Name == "longest" && time.Duration(d).Seconds() > e.Value {
					e.Value = time.Duration(d).Seconds()
				}
			}
		}
	}
	fs = append(fs, p.gcFindings()...)
	findings.Rank(fs)
	return fs
}

type aggKey struct {
	kind, fn, file, unit string
	line                 int
}

type agg struct {
	key        aggKey
	first      Event
	n          int
	total, max time.Duration
	goroutines map[int64]bool
}

// FindingsFromEvents folds starvation and stall events into findings, one per
// (kind, culprit function, unit). GC events are summarised by the GC probe
// itself (see Findings). The result is ranked.
func FindingsFromEvents(evs []Event) []Finding {
	aggs := map[aggKey]*agg{}
	var order []aggKey
	for _, e := range evs {
		if e.Kind != KindStarvation && e.Kind != KindStall {
			continue
		}
		var c inspect.Frame
		if len(e.Culprit) > 0 {
			c = e.Culprit[0]
		}
		k := aggKey{kind: e.Kind, fn: c.Function, file: c.File, line: c.Line, unit: e.Unit}
		a := aggs[k]
		if a == nil {
			a = &agg{key: k, first: e, goroutines: map[int64]bool{}}
			aggs[k] = a
			order = append(order, k)
		}
		a.n++
		a.total += e.Duration
		a.max = max(a.max, e.Duration)
		if e.Goroutine != 0 && len(a.goroutines) < 1000 {
			a.goroutines[e.Goroutine] = true
		}
	}
	var fs []Finding
	for _, k := range order {
		a := aggs[k]
		f := Finding{Unit: k.unit, Stack: a.first.Culprit, Score: a.total.Seconds()}
		if len(a.first.Culprit) > 0 {
			f.Culprit = a.first.Culprit[0]
		}
		if len(a.goroutines) == 1 {
			f.Goroutine = a.first.Goroutine
		}
		who := f.Culprit.Function
		if who == "" {
			who = "an unnamed goroutine"
		}
		switch k.kind {
		case KindStarvation:
			f.Kind = findings.CPUBoundLoop
			if f.Culprit.Function == "" {
				f.Kind = findings.Starvation
				f.Title = fmt.Sprintf("the scheduler starved for up to %s and no single goroutine held a P throughout", findings.FormatDuration(a.max))
				f.Advice = "look for bursts of CPU work without a yield; capture an execution trace (hotloop analyze) to see the running slices"
			} else {
				f.Title = fmt.Sprintf("%s kept a P busy without yielding; other goroutines waited up to %s for a CPU", who, findings.FormatDuration(a.max))
				f.Advice = "yield inside the loop with inspect.Budget (b.Yield() calls runtime.Gosched only when its slice is used up) or split the work into smaller units"
			}
			f.Evidence = []findings.Evidence{
				{Name: "starvation events", Value: float64(a.n), Unit: "count"},
				{Name: "longest wait for a P", Value: a.max.Seconds(), Unit: "seconds"},
				{Name: "total", Value: a.total.Seconds(), Unit: "seconds"},
				{Name: "goroutines", Value: float64(len(a.goroutines)), Unit: "count"},
			}
		case KindStall:
			f.Kind = findings.Stall
			unit := k.unit
			if unit == "" {
				unit = "a unit"
			}
			f.Title = fmt.Sprintf("%s ran past its threshold %d times, up to %s, in %s", unit, a.n, findings.FormatDuration(a.max), who)
			f.Advice = "see the culprit frame: a CPU-bound loop needs inspect.Budget; a wait needs a timeout or less contention"
			f.Evidence = []findings.Evidence{
				{Name: "stalls", Value: float64(a.n), Unit: "count"},
				{Name: "longest", Value: a.max.Seconds(), Unit: "seconds"},
			}
		}
		fs = append(fs, f)
	}
	findings.Rank(fs)
	return fs
}
