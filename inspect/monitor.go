package inspect

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
	"unsafe" // and for go:linkname
)

// nanotime is the runtime's monotonic clock, the one time.Since reads, minus
// time.Since's bookkeeping (~5 ns less on linux/amd64). The runtime keeps this
// linkname working on purpose (go.dev/issue/67401).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// Defaults for a zero Config.
const (
	DefaultSlow         = 10 * time.Millisecond
	DefaultMaxUnits     = 512
	DefaultMaxStalls    = 256
	DefaultMaxFrames    = 32
	DefaultSlots        = 16384
	DefaultMaxDumpBytes = 8 << 20
	DefaultDumpsPerSec  = 10

	// OverflowUnit is the name under which units past Config.MaxUnits are
	// counted.
	OverflowUnit = "other"

	maxUnitsLimit = 1 << unitIdxBits
)

// Config configures a Monitor. The zero value works: every field has a
// default, filled in by NewMonitor.
type Config struct {
	// Slow is the stall threshold: a unit still running after Slow is
	// reported by the watchdog. Default 10 ms.
	Slow time.Duration
	// SlowUnits overrides Slow per unit name, e.g. {"compaction": time.Minute}.
	SlowUnits map[string]time.Duration
	// OnStall receives every stall report, on the watchdog goroutine (never on
	// the unit's goroutine): keep it short, it delays the next scan. A panic in
	// it is recovered and logged. Nil means one slog line per report on Logger.
	OnStall func(Stall)
	// Logger is the default sink's logger (and where inspect warns about
	// overflowing caps). Nil means slog.Default().
	Logger *slog.Logger
	// Labels sets the pprof label unit=<name> on the goroutine for the length
	// of each run, so CPU profiles split per unit (hotloop flame --by-label
	// unit). It costs about what pprof.Do costs: 3 allocations (120 bytes)
	// and ~130-170 ns more per Begin/End (BenchmarkBeginEndLabels), so it is
	// off by default; turn it on while profiling.
	Labels bool
	// MaxUnits caps distinct unit names (default 512, at most 4094; each
	// costs ~2 KiB of counters for each P it ends on, within a budget of
	// 8192 such sets per Monitor, and as much for one atomic shard);
	// later names are counted under OverflowUnit, with one warning.
	MaxUnits int
	// MaxStalls caps the stall reports kept for Stalls() (default 256, a ring).
	MaxStalls int
	// MaxFrames caps the frames kept per report (default 32).
	MaxFrames int
	// Slots caps the in-flight table the watchdog scans (default 16384 slots
	// of 16 bytes). The table starts at 1024 slots and grows by 1024 when a
	// Begin finds no free slot within 64 of its goroutine's hash in any
	// segment, so the scan costs what the program's concurrency needs; keep
	// Slots about twice the most units ever in flight at once. A unit that
	// finds no free slot at all is still timed and counted but not watched
	// (UnitStats.Unwatched).
	Slots int
	// MaxDumpBytes caps the goroutine dump a stall capture takes (default
	// 8 MiB). A goroutine past the cap is reported without a stack.
	MaxDumpBytes int
	// DumpsPerSecond rate-limits stack captures, which stop the world (default
	// 10, bursts of 3). Reports wait for the next allowed capture.
	DumpsPerSecond float64
}

func (c Config) withDefaults() Config {
	if c.Slow <= 0 {
		c.Slow = DefaultSlow
	}
	if c.MaxUnits <= 0 {
		c.MaxUnits = DefaultMaxUnits
	}
	// Indices are 1-based and the overflow unit takes the one after the
	// last name: all must fit the slot word's 12-bit field.
	if c.MaxUnits > maxUnitsLimit-2 {
		c.MaxUnits = maxUnitsLimit - 2
	}
	if c.MaxStalls <= 0 {
		c.MaxStalls = DefaultMaxStalls
	}
	if c.MaxFrames <= 0 {
		c.MaxFrames = DefaultMaxFrames
	}
	if c.Slots <= 0 {
		c.Slots = DefaultSlots
	}
	if c.MaxDumpBytes <= 0 {
		c.MaxDumpBytes = DefaultMaxDumpBytes
	}
	if c.DumpsPerSecond <= 0 {
		c.DumpsPerSecond = DefaultDumpsPerSec
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// A Monitor times units, keeps their statistics and runs the stall watchdog.
// Most programs use the default monitor through the package-level functions;
// NewMonitor is for separate sets of units (tests, libraries). A Monitor is
// safe for concurrent use.
type Monitor struct {
	cfg atomic.Pointer[Config] // dynamic part may change (Configure)

	mu       sync.Mutex // guards writes to units/byName and the warning
	units    atomic.Pointer[[]*unitState]
	byName   atomic.Pointer[map[string]*unitState] // copy-on-write
	warned   bool
	minLimit atomic.Int64 // ns, smallest threshold of any unit: the tick

	table       table
	procs       []procState // by P; see percpu.go
	pshardsLeft atomic.Int64
	shards      uint32 // atomic stats shards per unit, power of two

	labels atomic.Bool

	// watchdog
	wdRunning atomic.Bool
	wdMu      sync.Mutex // guards wdDone, closed, wakes
	wdDone    chan struct{}
	wdStop    chan struct{}
	closed    bool
	endedQ    chan ended
	wake      chan struct{}
	dropped   atomic.Uint64
	scans     atomic.Uint64 // completed scans, for tests
	dumps     atomic.Uint64 // goroutine dumps taken, for tests

	stallMu  sync.Mutex
	stalls   []Stall // ring of the last MaxStalls reports
	stallSeq uint64
}

// NewMonitor returns a monitor configured by cfg. Its watchdog goroutine
// starts with the first unit and exits after a second with nothing in
// flight; Close stops it for good.
func NewMonitor(cfg Config) *Monitor {
	initGoid()
	initClock()
	c := cfg.withDefaults()
	m := &Monitor{
		wdStop: make(chan struct{}),
		endedQ: make(chan ended, 1024),
		wake:   make(chan struct{}, 1),
	}
	m.cfg.Store(&c)
	m.labels.Store(c.Labels)
	m.table.init(c.Slots)
	// Per-P state for every P there is, or may later be (GOMAXPROCS
	// follows the CPU quota, up to the CPUs).
	m.procs = make([]procState, min(max(runtime.GOMAXPROCS(0), runtime.NumCPU()), maxProcs))
	m.pshardsLeft.Store(maxPShards)
	// The atomic shards take a unit's counts only off the per-P path (the
	// first End on a P, reported or unwatched runs, Ps without per-P state,
	// a spent budget): one is enough unless many Ps may be without.
	sh := 1
	if runtime.NumCPU() > maxProcs {
		sh = 8
	}
	m.shards = uint32(sh)
	m.units.Store(&[]*unitState{})
	m.byName.Store(&map[string]*unitState{})
	m.minLimit.Store(int64(c.Slow))
	return m
}

var (
	defaultMu  sync.Mutex
	defaultMon atomic.Pointer[Monitor]
)

// Default returns the monitor behind the package-level functions, creating
// it with a zero Config on first use. It is a package-level singleton because
// units are named in code all over a program (inspect.Begin(ctx, "decode"))
// and must meet in one place without being passed around.
func Default() *Monitor {
	if m := defaultMon.Load(); m != nil {
		return m
	}
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if m := defaultMon.Load(); m != nil {
		return m
	}
	m := NewMonitor(Config{})
	defaultMon.Store(m)
	return m
}

// Configure sets the default monitor's configuration. Slow, SlowUnits,
// OnStall, Logger and Labels take effect at once, also for units already
// resolved; the sizes (MaxUnits, MaxStalls, MaxFrames, Slots, MaxDumpBytes)
// only when Configure runs before the first unit, so call it early in main.
func Configure(cfg Config) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if m := defaultMon.Load(); m != nil {
		m.Configure(cfg)
		return
	}
	defaultMon.Store(NewMonitor(cfg))
}

// Configure changes the monitor's thresholds, sink, logger and labels; see
// the package-level Configure for which fields apply after creation.
func (m *Monitor) Configure(cfg Config) {
	old := m.cfg.Load()
	c := cfg.withDefaults()
	c.MaxUnits, c.MaxStalls, c.MaxFrames = old.MaxUnits, old.MaxStalls, old.MaxFrames
	c.Slots, c.MaxDumpBytes = old.Slots, old.MaxDumpBytes
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg.Store(&c)
	m.labels.Store(c.Labels)
	minL := int64(c.Slow)
	for _, u := range *m.units.Load() {
		l := c.limitFor(u.name)
		u.limit.Store(int64(l))
		minL = min(minL, int64(l))
	}
	m.minLimit.Store(minL)
	m.wakeWatchdog()
}

func (c *Config) limitFor(name string) time.Duration {
	if d, ok := c.SlowUnits[name]; ok && d > 0 {
		return d
	}
	return c.Slow
}

// unit resolves a name to its state, creating it on first use. The read path
// is one atomic load and one map lookup in an immutable map; creation copies
// the map under m.mu (names are few and long-lived).
func (m *Monitor) unit(name string) *unitState {
	if u, ok := (*m.byName.Load())[name]; ok {
		return u
	}
	return m.newUnitState(name)
}

func (m *Monitor) newUnitState(name string) *unitState {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.byName.Load()
	if u, ok := old[name]; ok {
		return u
	}
	cfg := m.cfg.Load()
	units := *m.units.Load()
	if len(units) >= cfg.MaxUnits && name != OverflowUnit {
		if !m.warned {
			m.warned = true
			cfg.Logger.Warn("inspect: too many distinct unit names; counting the rest under "+OverflowUnit,
				"max_units", cfg.MaxUnits, "first_dropped", name)
		}
		if u, ok := old[OverflowUnit]; ok {
			return u
		}
		name = OverflowUnit
	}
	u := &unitState{
		labels:  pprof.Labels("unit", name),
		m:       m,
		name:    name,
		idx:     uint64(len(units) + 1), // 0 means "no unit" in a slot word
		shards:  make([]unitShard, m.shards),
		pshards: make([]unsafe.Pointer, len(m.procs)),
	}
	u.limit.Store(int64(cfg.limitFor(name)))
	if l := u.limit.Load(); l < m.minLimit.Load() {
		m.minLimit.Store(l)
	}
	nm := make(map[string]*unitState, len(old)+1)
	for k, v := range old {
		nm[k] = v
	}
	nm[name] = u
	nu := append(units[:len(units):len(units)], u)
	m.units.Store(&nu)
	m.byName.Store(&nm)
	return u
}

// unitByIdx returns the unit whose slot index is idx, or nil.
func (m *Monitor) unitByIdx(idx uint64) *unitState {
	us := *m.units.Load()
	if idx == 0 || idx > uint64(len(us)) {
		return nil
	}
	return us[idx-1]
}

// NewUnit resolves name once for hot loops: u.Begin(ctx) then skips the name
// lookup that Begin(ctx, name) does.
func (m *Monitor) NewUnit(name string) *Unit { return &Unit{s: m.unit(name)} }

// NewUnit resolves name on the default monitor.
func NewUnit(name string) *Unit { return Default().NewUnit(name) }

// Begin starts a unit named name on the default monitor: defer
// inspect.Begin(ctx, "decode").End(). It costs what Unit.Begin costs plus one
// lookup in an immutable map (~10 ns); resolve the name once with NewUnit
// in hot loops.
func Begin(ctx context.Context, name string) Region { return Default().Begin(ctx, name) }

// Begin starts a unit named name; see the package-level Begin.
func (m *Monitor) Begin(ctx context.Context, name string) Region { return m.unit(name).begin(ctx) }

// Do runs fn as a unit named name on the default monitor and returns its
// error. With Config.Labels, fn's context carries the unit's pprof label.
func Do(ctx context.Context, name string, fn func(context.Context) error) error {
	return Default().Do(ctx, name, fn)
}

// Do runs fn as a unit named name; see the package-level Do.
func (m *Monitor) Do(ctx context.Context, name string, fn func(context.Context) error) error {
	return m.unit(name).do(ctx, fn)
}

// Go starts a goroutine that runs fn as one unit named name on the default
// monitor.
func Go(ctx context.Context, name string, fn func(context.Context)) { Default().Go(ctx, name, fn) }

// Go starts a goroutine that runs fn as one unit named name.
func (m *Monitor) Go(ctx context.Context, name string, fn func(context.Context)) {
	u := m.unit(name)
	go func() {
		_ = u.do(ctx, func(ctx context.Context) error { fn(ctx); return nil })
	}()
}
