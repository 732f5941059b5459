package probes

import (
	"fmt"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/internal/findings"
)

type stallKey struct {
	unit, fn string
}

const maxStallKeys = 1024

// OnStall feeds an inspect stall report to the probes: pass it as
// inspect.Config.OnStall (or call it from yours). The first report about a run
// becomes a KindStall event (which also snapshots the flight recorder); the
// final report (Done) updates the longest duration the findings show. It is
// cheap (no allocation beyond the event) and a no-op after Stop.
func (p *Probes) OnStall(s inspect.Stall) {
	select {
	case <-p.stop:
		return
	default:
	}
	k := stallKey{unit: s.Unit}
	var culprit []inspect.Frame
	for _, f := range s.Frames {
		if !f.IsStd() {
			culprit = append(culprit, f)
		}
	}
	if len(culprit) > maxCulpritFrames {
		culprit = culprit[:maxCulpritFrames]
	}
	if len(culprit) > 0 {
		k.fn = culprit[0].Function
	}
	p.mu.Lock()
	if _, ok := p.stalls[k]; ok || len(p.stalls) < maxStallKeys {
		p.stalls[k] = max(p.stalls[k], s.Elapsed)
	}
	p.mu.Unlock()
	if s.Done || s.Report > 1 {
		return
	}
	where := "(no user frame)"
	if len(culprit) > 0 {
		where = culprit[0].String()
	}
	state := s.State
	if state == "" {
		state = "unknown state"
	}
	p.emit(Event{
		Kind: KindStall, Time: s.Started.Add(s.Elapsed), Duration: s.Elapsed,
		Culprit: culprit, Goroutine: s.Goroutine, Unit: s.Unit,
		Detail: fmt.Sprintf("unit %s still running after %s (limit %s), %s, at %s",
			s.Unit, findings.FormatDuration(s.Elapsed), findings.FormatDuration(s.Limit), state, where),
	})
}

// stallMax is the longest a stalled unit ran with this culprit, from Done reports.
func (p *Probes) stallMax(unit, fn string) (d int64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.stalls[stallKey{unit, fn}]
	return int64(v), ok
}
