// Package inspecttest fails a test whose work units stalled, in the style of
// go.uber.org/goleak:
//
//	func TestForwarder(t *testing.T) {
//		defer inspecttest.Check(t)
//		...
//	}
//
// Check reports every unit the inspect watchdog reported as stuck past its
// threshold during the test, and every unit still running past its threshold
// when Check runs, each with its state and stack.
package inspecttest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hotloop/hotloop/inspect"
)

// TestingT is the part of *testing.T that Check uses.
type TestingT interface {
	Error(args ...any)
}

// An Option changes what Check looks at.
type Option func(*options)

type options struct {
	m      *inspect.Monitor
	ignore map[string]bool
}

// Monitor makes Check look at m instead of the default monitor.
func Monitor(m *inspect.Monitor) Option { return func(o *options) { o.m = m } }

// IgnoreUnits makes Check accept stalls of the named units.
func IgnoreUnits(names ...string) Option {
	return func(o *options) {
		for _, n := range names {
			o.ignore[n] = true
		}
	}
}

// cursors remembers, per monitor, the last report a Check has seen. It is
// package state because `defer inspecttest.Check(t)` is a single call at the
// end of a test: "during the test" can only mean "since the previous Check"
// (or since the monitor started). Tests that run in parallel share a
// monitor's reports; give them their own Monitor if that matters.
var (
	cursorMu sync.Mutex
	cursors  = map[*inspect.Monitor]uint64{}
)

// Check calls t.Error once, listing every stall since the previous Check on
// the same monitor, and every unit still in flight past its threshold. It
// never waits.
func Check(t TestingT, opts ...Option) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	o := options{ignore: map[string]bool{}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.m == nil {
		o.m = inspect.Default()
	}
	if msg := check(o); msg != "" {
		t.Error(msg)
	}
}

// run identifies one run of a unit across its reports.
type run struct {
	goroutine int64
	unit      string
	started   time.Time
}

func check(o options) string {
	cursorMu.Lock()
	since := cursors[o.m]
	stalls := o.m.Stalls()
	if n := len(stalls); n > 0 {
		cursors[o.m] = stalls[n-1].Seq
	}
	cursorMu.Unlock()

	var b strings.Builder
	// Group reports by run; keep the first (where it was stuck) and the
	// longest elapsed time.
	var order []run
	runs := map[run]*agg{}
	missed := uint64(0)
	for i, s := range stalls {
		if s.Seq <= since || o.ignore[s.Unit] {
			continue
		}
		if i == 0 && s.Seq > since+1 {
			missed = s.Seq - since - 1 // reports dropped from the ring
		}
		k := run{s.Goroutine, s.Unit, s.Started.Round(time.Millisecond)}
		a := runs[k]
		if a == nil {
			a = &agg{first: s}
			runs[k] = a
			order = append(order, k)
		}
		a.longest = max(a.longest, s.Elapsed)
		a.done = a.done || s.Done
	}
	for _, k := range order {
		a := runs[k]
		s := a.first
		status := "still running"
		if a.done {
			status = "finished"
		}
		fmt.Fprintf(&b, "\nunit %q stalled: %v past its %v limit (%s), goroutine %d [%s]%s\n",
			s.Unit, a.longest.Round(time.Microsecond), s.Limit, status, s.Goroutine, s.State, onCPU(s.OnCPU))
		writeStack(&b, s)
	}
	if missed > 0 {
		fmt.Fprintf(&b, "\n(%d more reports were not kept; raise inspect.Config.MaxStalls)\n", missed)
	}

	// Units still stuck that the watchdog has not reported yet.
	limits := map[string]time.Duration{}
	for _, st := range o.m.Snapshot() {
		limits[st.Name] = st.Limit
	}
	var late []inspect.InFlightUnit
	for _, u := range o.m.InFlight() {
		if l, ok := limits[u.Unit]; ok && u.Elapsed > l && !o.ignore[u.Unit] && !reported(runs, u) {
			late = append(late, u)
		}
	}
	sort.Slice(late, func(i, j int) bool { return late[i].Elapsed > late[j].Elapsed })
	for _, u := range late {
		fmt.Fprintf(&b, "\nunit %q still running after %v, past its %v limit, goroutine %d\n",
			u.Unit, u.Elapsed.Round(time.Microsecond), limits[u.Unit], u.Goroutine)
	}
	if b.Len() == 0 {
		return ""
	}
	return "inspecttest: units stalled during the test:" + b.String()
}

// agg is what Check says about one run of a unit.
type agg struct {
	first   inspect.Stall
	longest time.Duration
	done    bool
}

// reported tells whether an in-flight unit is already listed from its stall
// reports.
func reported(runs map[run]*agg, u inspect.InFlightUnit) bool {
	for k := range runs {
		if k.goroutine == u.Goroutine && k.unit == u.Unit && !runs[k].done {
			return true
		}
	}
	return false
}

func onCPU(on bool) string {
	if on {
		return ", on CPU"
	}
	return ""
}

// writeStack prints the report's goroutine block, indented, or its frames
// when the block was not captured.
func writeStack(b *strings.Builder, s inspect.Stall) {
	if s.Stack != "" {
		for line := range strings.Lines(strings.TrimRight(s.Stack, "\n")) {
			b.WriteString("    " + line)
		}
		b.WriteString("\n")
		return
	}
	for _, f := range s.Frames {
		b.WriteString("    " + f.String() + "\n")
	}
}
