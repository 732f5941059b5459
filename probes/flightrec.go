package probes

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/trace"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hotloop/hotloop/internal/atomicfile"
)

// The flight recorder keeps the last MinAge (or MaxBytes) of execution trace in
// memory (runtime/trace.FlightRecorder) and writes it to Dir when a stall or
// starvation event fires, so the seconds before the trouble can be opened with
// `go tool trace` or `hotloop analyze`. Its cost is the execution tracer's:
// about 1-2% CPU for a busy program (the Go team's figure for Go 1.21+ tracing),
// plus MaxBytes of memory. Writes happen on their own goroutine, are atomic
// (temp file + rename), at most one per MinInterval, and the oldest snapshots
// are removed past MaxSnapshots files or MaxTotal bytes.

const (
	snapPrefix = "hotloop-"
	snapSuffix = ".trace"
)

type flightRec struct {
	p       *Probes
	cfg     FlightRecorderConfig
	fr      *trace.FlightRecorder
	trigger chan string // reasons; capacity 1, a pending trigger absorbs later ones

	mu    sync.Mutex // serialises writes (auto and manual) and guards below
	last  time.Time
	seq   int
	count int // snapshots written
}

func (c FlightRecorderConfig) withDefaults() FlightRecorderConfig {
	if c.MinAge <= 0 {
		c.MinAge = 10 * time.Second
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 16 << 20
	}
	if c.MaxSnapshots <= 0 {
		c.MaxSnapshots = 10
	}
	if c.MaxTotal <= 0 {
		c.MaxTotal = 256 << 20
	}
	if c.MinInterval <= 0 {
		c.MinInterval = time.Minute
	}
	return c
}

func startFlightRec(p *Probes, cfg FlightRecorderConfig) (*flightRec, error) {
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("starting flight recorder: %w", err)
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: cfg.MinAge, MaxBytes: cfg.MaxBytes})
	if err := fr.Start(); err != nil {
		return nil, fmt.Errorf("starting flight recorder: %w", err)
	}
	return &flightRec{p: p, cfg: cfg, fr: fr, trigger: make(chan string, 1)}, nil
}

// poke asks for a snapshot without waiting; the writer applies the rate limit.
func (f *flightRec) poke(reason string) {
	select {
	case f.trigger <- reason:
	default:
	}
}

func (f *flightRec) run(stop <-chan struct{}) {
	f.p.addSelf(curGoroutineID())
	for {
		select {
		case <-stop:
			return
		case reason := <-f.trigger:
			f.mu.Lock()
			due := f.last.IsZero() || time.Since(f.last) >= f.cfg.MinInterval
			f.mu.Unlock()
			if !due {
				f.p.snapsLimited.Add(1)
				continue
			}
			if _, err := f.snapshot(reason); err != nil {
				f.p.fail(err)
			}
		}
	}
}

// snapshot writes the recorder's window to a new file in Dir and prunes old ones.
func (f *flightRec) snapshot(reason string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	now := time.Now()
	name := fmt.Sprintf("%s%s-%03d-%s%s", snapPrefix, now.UTC().Format("20060102T150405.000Z"), f.seq%1000, sanitize(reason), snapSuffix)
	path := filepath.Join(f.cfg.Dir, name)
	err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := f.fr.WriteTo(w)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("writing flight recorder snapshot %s: %w", path, err)
	}
	f.last = now
	f.count++
	f.p.snaps.Add(1)
	return path, f.prune()
}

// prune removes the oldest snapshots past MaxSnapshots files or MaxTotal bytes.
// Names sort by time, so the oldest come first.
func (f *flightRec) prune() error {
	ents, err := os.ReadDir(f.cfg.Dir)
	if err != nil {
		return fmt.Errorf("pruning flight recorder snapshots: %w", err)
	}
	type snap struct {
		name string
		size int64
	}
	var snaps []snap
	var total int64
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasPrefix(n, snapPrefix) || !strings.HasSuffix(n, snapSuffix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		snaps = append(snaps, snap{n, info.Size()})
		total += info.Size()
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].name < snaps[j].name })
	var errs []error
	for len(snaps) > 1 && (len(snaps) > f.cfg.MaxSnapshots || total > f.cfg.MaxTotal) {
		if err := os.Remove(filepath.Join(f.cfg.Dir, snaps[0].name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("pruning flight recorder snapshots: %w", err))
		}
		total -= snaps[0].size
		snaps = snaps[1:]
	}
	return errors.Join(errs...)
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 32 {
			break
		}
	}
	if b.Len() == 0 {
		return "manual"
	}
	return b.String()
}

// SnapshotTrace writes the flight recorder's window to a new file in
// FlightRecorder.Dir now, whatever the rate limit, and returns its path (it
// counts toward MinInterval for the automatic snapshots). It fails if the
// flight recorder is off or the probes are stopped.
func (p *Probes) SnapshotTrace(reason string) (string, error) {
	if p.fr == nil {
		return "", errors.New("snapshotting execution trace: flight recorder is off (set Config.FlightRecorder.Dir)")
	}
	select {
	case <-p.stop:
		return "", errors.New("snapshotting execution trace: probes stopped")
	default:
	}
	return p.fr.snapshot(reason)
}
