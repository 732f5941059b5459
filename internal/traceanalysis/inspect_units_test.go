package traceanalysis

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/hotloop/hotloop/inspect"
)

// An inspect unit run while an execution trace is recorded is a trace region
// named after the unit, so the analysis gives scheduling latency per unit.
func TestInspectUnitsAreRegions(t *testing.T) {
	m := inspect.NewMonitor(inspect.Config{})
	defer m.Close()
	u := m.NewUnit("forward")
	data := record(t, func() {
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer u.Begin(context.Background()).End()
				for range 20 {
					runtime.Gosched() // runnable again inside the unit: a scheduling latency
				}
			}()
		}
		wg.Wait()
	})
	res := analyze(t, data, Options{})
	i := slices.IndexFunc(res.Units, func(s SchedTotal) bool { return s.Name == "forward" })
	if i < 0 {
		t.Fatalf("no unit \"forward\" among the trace's units %+v", res.Units)
	}
	if c := res.Units[i].Count; c < 4*20 {
		t.Errorf("unit forward: %d schedulings, want >= 80", c)
	}
}
