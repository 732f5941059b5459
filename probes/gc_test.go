package probes

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
	"go.uber.org/goleak"
)

type lruNode struct {
	prev, next *lruNode
	key        *int
	val        []byte
}

// bigHeap builds a pointer-heavy map like a read-state cache: n entries
// linked into a list, every one a few pointers for the collector to chase.
func bigHeap(n int) map[int]*lruNode {
	m := make(map[int]*lruNode, n)
	var prev *lruNode
	for i := 0; i < n; i++ {
		k := i
		nd := &lruNode{prev: prev, key: &k}
		if prev != nil {
			prev.next = nd
		}
		m[i] = nd
		prev = nd
	}
	return m
}

func gcFinding(fs []Finding, unit string) (Finding, bool) {
	for _, f := range fs {
		if f.Kind == findings.GC && f.Unit == unit {
			return f, true
		}
	}
	return Finding{}, false
}

func evidence(f Finding, name string) (float64, bool) {
	for _, e := range f.Evidence {
		if e.Name == name {
			return e.Value, true
		}
	}
	return 0, false
}

func TestGCFindingForcedGCOnBigHeap(t *testing.T) {
	defer goleak.VerifyNone(t)
	mon := inspect.NewMonitor(inspect.Config{Slow: time.Minute})
	defer mon.Close()
	// Big enough that marking it is real work, small enough that a cycle
	// ends well within the 500ms between forced cycles on a loaded machine,
	// so there are windows without GC to compare with.
	n := 300_000
	heap := bigHeap(n)
	runtime.GC() // start from this heap, not the garbage of earlier tests
	c := newCollector()
	p, err := Start(Config{OnEvent: c.on, Monitor: mon, NoStarvation: true, GCWindow: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // forced GC every 500ms, as the read-state cache's "cleanup" did
		defer wg.Done()
		tk := time.NewTicker(500 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				runtime.GC()
			}
		}
	}()
	go func() { // the unit, every 10ms: a lookup and a 1 MiB allocation of pointers
		defer wg.Done()
		ctx := context.Background()
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		var keep [][]*int
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			_ = mon.Do(ctx, "get", func(context.Context) error {
				nd := heap[i%n]
				// A large allocation pays a GC assist proportional to its size
				// while a cycle marks (runtime work, which the race detector
				// does not slow down, unlike filling it in a loop).
				ps := make([]*int, 128<<10)
				ps[0], ps[len(ps)-1] = nd.key, nd.key
				keep = append(keep, ps)
				if len(keep) > 8 {
					keep = keep[:0]
				}
				return nil
			})
		}
	}()
	var f Finding
	var ok bool
	deadline := time.Now().Add(30 * time.Second)
	// Poll until the finding has seen a forced cycle and a GC event reported one.
	forcedEvent := func() bool {
		for _, e := range c.kind(KindGC) {
			if strings.Contains(e.Detail, "forced") {
				return true
			}
		}
		return false
	}
	for time.Now().Before(deadline) {
		c.waitFor(t, "never", 1, 200*time.Millisecond) // poll every 200ms
		f, ok = gcFinding(p.Findings(), "get")
		if forced, _ := evidence(f, "forced"); ok && forced >= 1 && forcedEvent() {
			break
		}
		if testing.Verbose() {
			p.mu.Lock()
			if u := p.gc.units["get"]; u != nil {
				t.Logf("windows %d (GC %d): get p99 in GC windows %s (%d runs), elsewhere %s (%d runs)", p.gc.windows, p.gc.gcWindows,
					u.gc.Quantile(0.99), u.gc.Count(), u.nogc.Quantile(0.99), u.nogc.Count())
			}
			p.mu.Unlock()
		}
	}
	close(stop)
	wg.Wait()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(heap)
	if !ok {
		fs := p.Findings()
		p.mu.Lock()
		st := p.gc
		u := st.units["get"]
		msg := fmt.Sprintf("no GC finding for unit get: %d windows, %d overlapping GC; get runs gc %d p99 %s, other %d p99 %s; findings %+v",
			st.windows, st.gcWindows, u.gc.Count(), u.gc.Quantile(0.99), u.nogc.Count(), u.nogc.Quantile(0.99), fs)
		p.mu.Unlock()
		t.Fatal(msg)
	}
	t.Logf("finding: %s", f.Title)
	if !strings.Contains(f.Title, "higher in windows overlapping a GC cycle") || !strings.Contains(f.Title, "forced GC every") {
		t.Errorf("title %q", f.Title)
	}
	if v, _ := evidence(f, "forced"); v < 1 {
		t.Errorf("forced cycles = %v, want >= 1", v)
	}
	if v, _ := evidence(f, "live heap marked per cycle"); v < float64(n)*48 {
		t.Errorf("live heap = %s, want >= %s", findings.FormatBytes(v), findings.FormatBytes(float64(n)*48))
	}
	if v, _ := evidence(f, "ratio"); v < 2 {
		t.Errorf("ratio = %v, want >= 2", v)
	}
	gcEvents := c.kind(KindGC)
	forcedSeen := false
	for _, e := range gcEvents {
		forcedSeen = forcedSeen || strings.Contains(e.Detail, "forced")
	}
	if !forcedSeen {
		t.Errorf("no GC event mentions a forced cycle among %d GC events", len(gcEvents))
	}
}
