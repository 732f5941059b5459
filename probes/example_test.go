package probes_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
	"github.com/hotloop/hotloop/probes"
)

// Start the probes next to inspect's watchdog: starvation and GC are always
// on, stalls flow in through OnStall, and a stall or starvation snapshots the
// last seconds of execution trace to a directory.
func ExampleStart() {
	p, err := probes.Start(probes.Config{
		OnEvent: func(e probes.Event) { log.Printf("%s: %s", e.Kind, e.Detail) },
		FlightRecorder: probes.FlightRecorderConfig{
			Dir:         os.TempDir() + "/hotloop-traces",
			MinAge:      5 * time.Second,
			MinInterval: time.Minute,
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Stop()
	inspect.Configure(inspect.Config{OnStall: p.OnStall})

	// ... the service runs ...

	// Later (an HTTP handler, a signal): the ranked diagnosis.
	_ = findings.WriteText(os.Stderr, p.Findings())
}

// A wall-clock profile shows goroutines waiting as well as running.
func ExampleWallProfile() {
	f, err := os.CreateTemp("", "wall-*.pprof")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := probes.WallProfile(context.Background(), 10*time.Millisecond, f); err != nil {
		log.Fatal(err)
	}
}

// Events fold into findings: one per culprit function, worst first.
func ExampleFindingsFromEvents() {
	loop := []inspect.Frame{{Function: "example.com/fwd.rewrite", File: "/src/fwd/rewrite.go", Line: 42}}
	fs := probes.FindingsFromEvents([]probes.Event{
		{Kind: probes.KindStarvation, Duration: 31 * time.Millisecond, Culprit: loop, Goroutine: 7, Unit: "forward"},
		{Kind: probes.KindStarvation, Duration: 48 * time.Millisecond, Culprit: loop, Goroutine: 7, Unit: "forward"},
	})
	_ = findings.WriteText(os.Stdout, fs)
	// Output:
	// 1. cpu-bound loop: example.com/fwd.rewrite kept a P busy without yielding; other goroutines waited up to 48ms for a CPU
	//    culprit: example.com/fwd.rewrite (/src/fwd/rewrite.go:42)
	//    unit: forward
	//    goroutine: 7
	//    evidence: starvation events 2 · longest wait for a P 48ms · total 79ms · goroutines 1
	//    advice: yield inside the loop with inspect.Budget (b.Yield() calls runtime.Gosched only when its slice is used up) or split the work into smaller units
}
