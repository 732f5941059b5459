package inspect

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestConcurrentUnitsAndWatchdog runs many units on many goroutines while
// the watchdog scans and reports some of them, so the race detector sees
// every path of the slot protocol: claim, release, reported, final report.
func TestConcurrentUnitsAndWatchdog(t *testing.T) {
	defer goleak.VerifyNone(t)
	var mu sync.Mutex
	var reports []Stall
	m := NewMonitor(Config{Slow: 5 * time.Millisecond, OnStall: func(s Stall) {
		mu.Lock()
		reports = append(reports, s)
		mu.Unlock()
	}})
	units := []*Unit{m.NewUnit("a"), m.NewUnit("b"), m.NewUnit("c")}
	const goroutines, perG = 8, 300
	runUnits(units, goroutines, perG, func(i int) {
		if i%100 == 99 {
			time.Sleep(15 * time.Millisecond) // a slow one, likely reported
		}
	})
	m.Close() // delivers pending final reports
	checkAllEnded(t, m, goroutines*perG)
	// Every run that was reported got exactly one final report, last.
	type key struct {
		g     int64
		start time.Time
	}
	mu.Lock()
	defer mu.Unlock()
	open := map[key]int{}
	for _, s := range reports {
		k := key{s.Goroutine, s.Started}
		if s.Done {
			if open[k] == 0 {
				t.Errorf("final report without a first one: %+v", s)
			}
			delete(open, k)
			continue
		}
		open[k]++
	}
	if len(open) != 0 {
		t.Errorf("%d reported runs never got a final report", len(open))
	}
}

func TestReportWithoutStack(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := newRecorder()
	// A dump capped at 64 bytes holds at most the watchdog's own header.
	m := NewMonitor(Config{Slow: 20 * time.Millisecond, MaxDumpBytes: 64, OnStall: rec.on})
	defer m.Close()
	release := make(chan struct{})
	go m.Do(context.Background(), "x", func(context.Context) error { <-release; return nil })
	s := rec.next(t)
	close(release)
	if s.Unit != "x" || s.State != "" || s.Frames != nil || s.Goroutine == 0 {
		t.Errorf("report %+v", s)
	}
	for s := rec.next(t); !s.Done; s = rec.next(t) {
	}
}

func TestDumpRateLimit(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := newRecorder()
	// Tokens refill at one per ~30 years: only the burst of 3 is available.
	m := NewMonitor(Config{Slow: 10 * time.Millisecond, DumpsPerSecond: 1e-9, OnStall: rec.on})
	defer m.Close()
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Do(context.Background(), "u", func(context.Context) error { <-release; return nil })
	}()
	// Reports at 1x, 2x and 4x the threshold use the three tokens.
	for i := 1; i <= 3; i++ {
		if s := rec.next(t); s.Report != i {
			t.Fatalf("report %+v", s)
		}
	}
	// The 8x report is due at 80 ms; wait well past it, and a few scans.
	waitFor(t, func() bool { f := m.InFlight(); return len(f) == 1 && f[0].Elapsed > 200*time.Millisecond })
	n := m.scans.Load()
	waitFor(t, func() bool { return m.scans.Load() >= n+3 })
	close(release)
	<-done
	if d := m.dumps.Load(); d != 3 {
		t.Errorf("%d goroutine dumps, want 3", d)
	}
	// What is left is the final report, which needs no dump.
	if s := rec.next(t); !s.Done || s.Report != 4 {
		t.Errorf("after the rate limit: %+v", s)
	}
}
