// Package probes turns the runtime's own signals into events and findings that
// name a culprit: a scheduler-starvation detector (which goroutine held the
// processor), a GC probe correlated with inspect unit latencies, a flight
// recorder snapshotted on trouble, and wall-clock profiles on demand.
//
// Start them with [Start]. The starvation detector and the GC probe, which the
// zero Config starts, are cheap enough to leave on in production (together
// ~0.2% of a core on an idle process, measured by TestProbeCPUCost); the
// flight recorder costs what the execution tracer costs and is off unless
// asked for. Stop waits for every goroutine Start created. All methods are
// safe for concurrent use.
package probes

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
)

// Finding is one diagnosed problem; see package internal/findings for its
// fields and for WriteText / WriteJSON.
type Finding = findings.Finding

// Event kinds.
const (
	KindStarvation = "starvation" // runnable goroutines waited for a P; Culprit is the hog
	KindStall      = "stall"      // an inspect unit ran past its threshold (fed through OnStall)
	KindGC         = "gc"         // a notable GC cycle: forced, long pause, heavy assists
	KindOffCPU     = "offcpu"     // time off-CPU by wait reason (trace analysis)
)

// Event is one thing a probe noticed.
type Event struct {
	Kind     string        // KindStarvation, KindStall, KindGC, ...
	Time     time.Time     // when the probe noticed it
	Duration time.Duration // how long it lasted (lag, pause, stall elapsed)
	// Culprit holds the user-code frames held responsible, leaf first (runtime
	// and standard library frames are skipped). Empty when nobody is to blame
	// (a GC cycle) or the culprit could not be named.
	Culprit   []inspect.Frame
	Goroutine int64  // the culprit goroutine, 0 if none
	Unit      string // the inspect unit the culprit was running inside, if any
	Detail    string // one line for people
}

// Config selects and tunes the probes. The zero value starts the starvation
// detector and the GC probe with their defaults and no flight recorder.
type Config struct {
	// OnEvent receives every event, from a probe goroutine. It must not block
	// for long: the probe that produced the event waits for it. A panic in
	// OnEvent is recovered and counted.
	OnEvent func(Event)

	// StarvationThreshold is how long the sentinel must have gone without a
	// chance to run, when it asked to, for starvation to be reported.
	// Default 20ms.
	StarvationThreshold time.Duration
	// SentinelPeriod is how often the sentinel goroutine wakes while the
	// process is busy enough to starve (at least GOMAXPROCS goroutines running
	// or runnable). Default 10ms, at most half the threshold (see
	// starvation.go for why).
	SentinelPeriod time.Duration
	// IdlePeriod is how often it wakes otherwise. Default 200ms: on an idle
	// process a wake-up costs a thread wake-up and the scheduler's search for
	// work, measured at 100-300 µs of CPU on a 2-core VM.
	IdlePeriod time.Duration
	// NoStarvation turns the starvation detector off.
	NoStarvation bool
	// DumpInterval is the least time between two rounds of goroutine dumps
	// (each round stops the world StarvationSamples times, ~50-500 µs each
	// for a few thousand goroutines). Starvation seen meanwhile is folded
	// into the next event. Default 1s.
	DumpInterval time.Duration
	// StarvationSamples is how many dumps a round takes; a hog must be on a
	// CPU in all of them. Default 4 (at least 2).
	StarvationSamples int
	// MaxDumpBytes caps the goroutine dump buffer. Default 4 MiB (~10-20k
	// goroutines); goroutines past the cap are not considered.
	MaxDumpBytes int

	// Monitor is the inspect monitor whose units events are attributed to and
	// whose latencies the GC probe correlates. Nil means inspect.Default().
	Monitor *inspect.Monitor

	// GCWindow is the length of the windows in which the GC probe samples
	// runtime/metrics and inspect unit latencies. Default 200ms.
	GCWindow time.Duration
	// NoGC turns the GC probe off.
	NoGC bool

	// FlightRecorder, when Dir is set, keeps the last seconds of execution
	// trace in memory and writes them to Dir on a stall or starvation event.
	FlightRecorder FlightRecorderConfig

	// MaxEvents caps the events kept for Findings (a ring; older ones are
	// summarised in counters). Default 1024.
	MaxEvents int
}

func (c Config) withDefaults() Config {
	if c.StarvationThreshold <= 0 {
		c.StarvationThreshold = 20 * time.Millisecond
	}
	if c.SentinelPeriod <= 0 {
		c.SentinelPeriod = 10 * time.Millisecond
	}
	if c.IdlePeriod <= 0 {
		c.IdlePeriod = 200 * time.Millisecond
	}
	if c.GCWindow <= 0 {
		c.GCWindow = 200 * time.Millisecond
	}
	if c.DumpInterval <= 0 {
		c.DumpInterval = time.Second
	}
	if c.StarvationSamples <= 0 {
		c.StarvationSamples = 4
	}
	c.StarvationSamples = max(c.StarvationSamples, 2)
	if c.MaxDumpBytes <= 0 {
		c.MaxDumpBytes = 4 << 20
	}
	if c.Monitor == nil {
		c.Monitor = inspect.Default()
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 1024
	}
	return c
}

// FlightRecorderConfig configures the flight recorder; it is off unless Dir is set.
type FlightRecorderConfig struct {
	Dir          string        // where snapshots go; created if missing
	MinAge       time.Duration // keep at least this much trace in memory; default 10s
	MaxBytes     uint64        // in-memory trace cap; default 16 MiB
	MaxSnapshots int           // files kept in Dir, oldest removed first; default 10
	MaxTotal     int64         // total bytes of snapshots kept in Dir; default 256 MiB
	MinInterval  time.Duration // at most one snapshot per interval; default 1m
}

// Probes is a running set of probes.
type Probes struct {
	cfg  Config
	stop chan struct{}
	wg   sync.WaitGroup

	stopOnce sync.Once
	stopErr  error

	mu     sync.Mutex
	events []Event // ring of the last cfg.MaxEvents
	next   int
	total  int
	self   map[int64]bool             // ids of the probes' own goroutines
	errs   []error                    // capped at maxErrs
	gc     *gcState                   // nil until the GC probe has its baseline
	fr     *flightRec                 // nil when the flight recorder is off
	stalls map[stallKey]time.Duration // longest elapsed per stalled unit and culprit; capped

	// counters, for Stats
	sentinelTicks atomic.Uint64
	fastTicks     atomic.Uint64
	sentinelLate  atomic.Uint64
	osPauses      atomic.Uint64
	dumpSessions  atomic.Uint64
	unconfirmed   atomic.Uint64
	eventPanics   atomic.Uint64
	snaps         atomic.Uint64
	snapsLimited  atomic.Uint64
}

const maxErrs = 16

// Stats are the probes' own counters.
type Stats struct {
	SentinelTicks uint64 // sentinel wake-ups
	FastTicks     uint64 // of which at the fast period (the process was busy)
	SentinelLate  uint64 // wake-ups at or past the starvation threshold
	OSPauses      uint64 // late wake-ups dismissed: the process got little CPU (the OS, not Go, held it)
	DumpRounds    uint64 // rounds of goroutine dumps taken
	Unconfirmed   uint64 // rounds that named no hog and had no runtime confirmation: no event
	Events        uint64 // events emitted
	EventPanics   uint64 // panics recovered from Config.OnEvent
	Snapshots     uint64 // flight recorder snapshots written
	SnapsLimited  uint64 // snapshot requests dropped by FlightRecorder.MinInterval
}

// Stats returns the probes' counters.
func (p *Probes) Stats() Stats {
	p.mu.Lock()
	ev := p.total
	p.mu.Unlock()
	return Stats{
		SentinelTicks: p.sentinelTicks.Load(),
		FastTicks:     p.fastTicks.Load(),
		SentinelLate:  p.sentinelLate.Load(),
		OSPauses:      p.osPauses.Load(),
		DumpRounds:    p.dumpSessions.Load(),
		Unconfirmed:   p.unconfirmed.Load(),
		Events:        uint64(ev),
		EventPanics:   p.eventPanics.Load(),
		Snapshots:     p.snaps.Load(),
		SnapsLimited:  p.snapsLimited.Load(),
	}
}

func (p *Probes) addSelf(id int64) {
	p.mu.Lock()
	p.self[id] = true
	p.mu.Unlock()
}

func (p *Probes) isSelf(id int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.self[id]
}

// fail records an error a probe met while running; Stop returns them.
func (p *Probes) fail(err error) {
	p.mu.Lock()
	if len(p.errs) < maxErrs {
		p.errs = append(p.errs, err)
	}
	p.mu.Unlock()
}

// unitsByGoroutine maps goroutine ids to the inspect unit each is running.
// Cost: one scan of the monitor's in-flight table (~10-20 µs); called only
// when a probe has already fired.
func (p *Probes) unitsByGoroutine() map[int64]string {
	m := map[int64]string{}
	for _, u := range p.cfg.Monitor.InFlight() {
		if u.Goroutine != 0 {
			if _, ok := m[u.Goroutine]; !ok { // longest-running first: keep the outermost
				m[u.Goroutine] = u.Unit
			}
		}
	}
	return m
}

// Start starts the probes cfg selects. Call Stop to end them.
func Start(cfg Config) (*Probes, error) {
	cfg = cfg.withDefaults()
	p := &Probes{cfg: cfg, stop: make(chan struct{}), self: map[int64]bool{}, stalls: map[stallKey]time.Duration{}}
	if cfg.FlightRecorder.Dir != "" {
		fr, err := startFlightRec(p, cfg.FlightRecorder)
		if err != nil {
			return nil, err
		}
		p.fr = fr
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			fr.run(p.stop)
		}()
	}
	if !cfg.NoStarvation {
		d := newStarveDetector(p)
		if !cfg.NoGC {
			d.gc = newGCProbe(p)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			d.run(p.stop)
		}()
	} else if !cfg.NoGC {
		g := newGCProbe(p)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			g.run(p.stop)
		}()
	}
	return p, nil
}

// Stop ends every probe and waits for the goroutines Start created. It returns
// the errors the probes met while running (a failed flight-recorder write, ...).
// Stop is idempotent: later calls return the same result at once.
func (p *Probes) Stop() error {
	p.stopOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()
		if p.fr != nil {
			p.fr.mu.Lock() // a SnapshotTrace in progress finishes first
			p.fr.fr.Stop()
			p.fr.mu.Unlock()
		}
		p.mu.Lock()
		p.stopErr = errors.Join(p.errs...)
		p.mu.Unlock()
	})
	return p.stopErr
}

// emit records e and passes it to OnEvent.
func (p *Probes) emit(e Event) {
	p.mu.Lock()
	if len(p.events) < p.cfg.MaxEvents {
		p.events = append(p.events, e)
	} else {
		p.events[p.next] = e
		p.next = (p.next + 1) % len(p.events)
	}
	p.total++
	p.mu.Unlock()
	if p.fr != nil && (e.Kind == KindStarvation || e.Kind == KindStall) {
		p.fr.poke(e.Kind)
	}
	if p.cfg.OnEvent != nil {
		func() {
			defer func() {
				if recover() != nil {
					p.eventPanics.Add(1)
				}
			}()
			p.cfg.OnEvent(e)
		}()
	}
}
