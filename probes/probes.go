// Package probes turns the runtime's own signals into events and findings that
// name a culprit: a scheduler-starvation detector (which goroutine held the
// processor), a GC probe correlated with inspect unit latencies, a flight
// recorder snapshotted on trouble, and wall-clock profiles on demand.
//
// Start them with [Start]; every probe is cheap enough to leave on in
// production (see each Config field for its cost), and Stop waits for every
// goroutine Start created. All methods are safe for concurrent use.
package probes

import (
	"errors"
	"sync"
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

	// StarvationThreshold is the sentinel wake-up lag that counts as
	// starvation. Default 20ms.
	StarvationThreshold time.Duration
	// SentinelPeriod is how often the sentinel goroutine wakes. Default 10ms
	// (see sentinel.go for why). Starvation shorter than the period can be
	// missed.
	SentinelPeriod time.Duration
	// NoStarvation turns the starvation detector off.
	NoStarvation bool

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
	if c.GCWindow <= 0 {
		c.GCWindow = 200 * time.Millisecond
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
}

// Start starts the probes cfg selects. Call Stop to end them.
func Start(cfg Config) (*Probes, error) {
	cfg = cfg.withDefaults()
	p := &Probes{cfg: cfg, stop: make(chan struct{})}
	return p, nil
}

// Stop ends every probe and waits for the goroutines Start created. It returns
// the errors the probes met while running (a failed flight-recorder write, ...).
// Stop is idempotent: later calls return the same result at once.
func (p *Probes) Stop() error {
	p.stopOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()
		p.stopErr = errors.Join()
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
	if p.cfg.OnEvent != nil {
		func() {
			defer func() { _ = recover() }()
			p.cfg.OnEvent(e)
		}()
	}
}

// Findings builds the ranked findings from the events so far.
func (p *Probes) Findings() []Finding {
	var fs []Finding
	findings.Rank(fs)
	return fs
}
