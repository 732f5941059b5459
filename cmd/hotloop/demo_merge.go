package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
)

// mergeLoops folds findings that describe one problem seen at several places.
//
// The probes and the trace analysis name a CPU-bound loop or a stalled unit
// by the innermost user frame where they caught it: preemption lands wherever
// the loop happens to be, so one loop that calls a JSON escaper, a parser and
// an append shows up as five findings, each with a fifth of the weight, none
// naming the loop. Findings of the same kind, unit and goroutine entry
// function are one problem; mergeLoops replaces them with one finding whose
// culprit is the deepest frame that two thirds of their weight have in
// common (the loop itself), with the weights summed.
func mergeLoops(fs []findings.Finding) []findings.Finding {
	type key struct {
		kind        findings.Kind
		unit, entry string
	}
	groups := map[key][]int{}
	var order []key
	for i, f := range fs {
		if f.Kind != findings.CPUBoundLoop && f.Kind != findings.Stall {
			continue
		}
		if f.Culprit.Function == "" || len(f.Stack) == 0 {
			continue
		}
		k := key{f.Kind, f.Unit, entryFunction(f.Stack)}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	drop := map[int]bool{}
	var merged []findings.Finding
	for _, k := range order {
		idx := groups[k]
		if len(idx) < 2 {
			continue
		}
		group := make([]findings.Finding, len(idx))
		for j, i := range idx {
			group[j] = fs[i]
			drop[i] = true
		}
		merged = append(merged, mergeGroup(group))
	}
	out := make([]findings.Finding, 0, len(fs)-len(drop)+len(merged))
	for i, f := range fs {
		if !drop[i] {
			out = append(out, f)
		}
	}
	return append(out, merged...)
}

// entryFunction is the outermost frame of a leaf-first stack that is not the
// runtime's goroutine exit: the function the goroutine was started with.
func entryFunction(stack []inspect.Frame) string {
	for i := len(stack) - 1; i >= 0; i-- {
		if fn := stack[i].Function; fn != "runtime.goexit" && fn != "" {
			return fn
		}
	}
	return ""
}

// commonPath walks the stacks from the root and returns, leaf first, the
// frames that hold at least two thirds of the total weight at every depth.
func commonPath(stacks [][]inspect.Frame, weights []float64) []inspect.Frame {
	var total float64
	for _, w := range weights {
		total += w
	}
	alive := make([]bool, len(stacks))
	for i := range alive {
		alive[i] = true
	}
	var path []inspect.Frame // root first
	for d := 0; ; d++ {
		byFn := map[string]float64{}
		first := map[string]inspect.Frame{}
		for i, st := range stacks {
			if !alive[i] || d >= len(st) {
				continue
			}
			f := st[len(st)-1-d]
			byFn[f.Function] += weights[i]
			if _, ok := first[f.Function]; !ok {
				first[f.Function] = f
			}
		}
		best, bestW := "", 0.0
		for fn, w := range byFn {
			if w > bestW || (w == bestW && fn < best) {
				best, bestW = fn, w
			}
		}
		if best == "" || bestW < total*2/3 {
			break
		}
		path = append(path, first[best])
		for i, st := range stacks {
			if alive[i] && (d >= len(st) || st[len(st)-1-d].Function != best) {
				alive[i] = false
			}
		}
	}
	slices.Reverse(path)
	// The leaf end may be the runtime or a system call where the goroutine
	// was caught; the culprit is the code that called it.
	for len(path) > 1 && isSystemFrame(path[0].Function) {
		path = path[1:]
	}
	return path
}

// isSystemFrame: the runtime, the standard library's plumbing under a
// blocking call, and inspect's own yield.
func isSystemFrame(fn string) bool {
	for _, p := range []string{"runtime.", "internal/", "syscall.", "net.", "os.", "sync.", "time.", "github.com/hotloop/hotloop/inspect."} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

func mergeGroup(group []findings.Finding) findings.Finding {
	slices.SortStableFunc(group, func(a, b findings.Finding) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	stacks := make([][]inspect.Frame, len(group))
	weights := make([]float64, len(group))
	for i, f := range group {
		stacks[i], weights[i] = f.Stack, max(f.Score, 1e-12)
	}
	m := group[0]
	m.Evidence = slices.Clone(m.Evidence)
	if path := commonPath(stacks, weights); len(path) > 0 {
		m.Stack = path
		m.Culprit = path[0]
	}
	for _, f := range group[1:] {
		m.Score += f.Score
		if f.Goroutine != m.Goroutine {
			m.Goroutine = 0
		}
		for _, e := range f.Evidence {
			j := slices.IndexFunc(m.Evidence, func(x findings.Evidence) bool { return x.Name == e.Name })
			switch {
			case j < 0:
				m.Evidence = append(m.Evidence, e)
			case isMaxEvidence(e.Name):
				if e.Value > m.Evidence[j].Value {
					m.Evidence[j] = e
				}
			case e.Name == "goroutines":
				// distinct goroutines cannot be summed; keep the largest
				m.Evidence[j].Value = max(m.Evidence[j].Value, e.Value)
			default:
				m.Evidence[j].Value += e.Value
				m.Evidence[j].Text = ""
			}
		}
	}
	m.Evidence = append(m.Evidence, findings.Evidence{Name: "places it was caught", Value: float64(len(group)), Unit: "count"})
	m.Title = mergedTitle(m)
	return m
}

func isMaxEvidence(name string) bool {
	return strings.HasPrefix(name, "max") || strings.HasPrefix(name, "longest") || strings.HasPrefix(name, "p99")
}

func evidence(f findings.Finding, name string) (findings.Evidence, bool) {
	for _, e := range f.Evidence {
		if e.Name == name {
			return e, true
		}
	}
	return findings.Evidence{}, false
}

// mergedTitle rewrites a merged finding's title around its new culprit,
// with the merged figures.
func mergedTitle(f findings.Finding) string {
	fn := shortFunction(f.Culprit.Function)
	if e, ok := evidence(f, "max running slice"); ok {
		return fmt.Sprintf("%s ran %s without yielding", fn, findings.FormatValue(e))
	}
	if e, ok := evidence(f, "longest wait for a P"); ok {
		return fmt.Sprintf("%s kept a P busy without yielding; other goroutines waited up to %s for a CPU", fn, findings.FormatValue(e))
	}
	if n, ok := evidence(f, "stalls"); ok {
		e, _ := evidence(f, "longest")
		unit := f.Unit
		if unit == "" {
			unit = "a unit"
		}
		return fmt.Sprintf("%s ran past its threshold %s times, up to %s, in %s", unit, findings.FormatValue(n), findings.FormatValue(e), fn)
	}
	return f.Title
}

// shortFunction drops the import path: github.com/a/b/pkg.(*T).M -> pkg.(*T).M.
func shortFunction(fn string) string {
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		return fn[i+1:]
	}
	return fn
}
