package inspect

import (
	"sort"
	"sync/atomic"
	"time"
)

// UnitStats is one unit's statistics since its first use.
type UnitStats struct {
	Name string `json:"name"`
	// Count is the number of completed runs.
	Count uint64 `json:"count"`
	// InFlight is the number of runs in progress.
	InFlight int64 `json:"in_flight"`
	// Slow is the number of completed runs that took longer than Limit.
	Slow uint64 `json:"slow"`
	// Stalls is the number of runs the watchdog reported while they ran.
	Stalls uint64 `json:"stalls"`
	// Unwatched is the number of runs that found the in-flight table full:
	// timed and counted, but not watched.
	Unwatched uint64 `json:"unwatched"`
	// Limit is the unit's stall threshold.
	Limit time.Duration `json:"limit"`
	// Total and Max are the summed and the longest duration of completed runs.
	Total time.Duration `json:"total"`
	Max   time.Duration `json:"max"`
	// Quantiles of completed runs, from Hist (within 12.5%).
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p999"`
	// Hist holds the counts since the unit's first use; subtract two
	// snapshots (Hist.Sub) for a window.
	Hist Histogram `json:"hist"`
}

// Snapshot returns every unit's statistics, sorted by name. It reads the
// live counters without stopping anything; cost: proportional to the number
// of units times the histogram size (~2 KiB each) plus one scan of the
// in-flight table.
func (m *Monitor) Snapshot() []UnitStats {
	units := *m.units.Load()
	inflight := make([]int64, len(units)+1)
	for _, sg := range *m.table.segs.Load() {
		for i := range sg.slots {
			w := atomic.LoadUint64(&sg.slots[i].word)
			if w&activeBit != 0 {
				if idx := (w >> unitShift) & (1<<unitIdxBits - 1); int(idx) < len(inflight) {
					inflight[idx]++
				}
			}
		}
	}
	out := make([]UnitStats, 0, len(units))
	for _, u := range units {
		st := UnitStats{
			Name:      u.name,
			InFlight:  inflight[u.idx] + u.unwatched.Load(),
			Stalls:    u.stalls.Load(),
			Unwatched: u.unwatchedTotal.Load(),
			Limit:     time.Duration(u.limit.Load()),
		}
		for i := range u.pshards {
			if h := (*pshard)(atomic.LoadPointer(&u.pshards[i])); h != nil {
				h.addTo(&st)
			}
		}
		for i := range u.shards {
			sh := &u.shards[i]
			sh.hist.addTo(&st.Hist)
			st.Slow += sh.slow.Load()
			st.Max = max(st.Max, time.Duration(sh.max.Load()))
		}
		st.Count = st.Hist.Count()
		st.Total = st.Hist.Sum
		st.P50 = st.Hist.Quantile(0.50)
		st.P90 = st.Hist.Quantile(0.90)
		st.P99 = st.Hist.Quantile(0.99)
		st.P999 = st.Hist.Quantile(0.999)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Snapshot returns the default monitor's unit statistics.
func Snapshot() []UnitStats { return Default().Snapshot() }

// InFlightUnit is one run of a unit in progress.
type InFlightUnit struct {
	Unit      string        `json:"unit"`
	Goroutine int64         `json:"goroutine"` // 0 if unknown
	Start     time.Time     `json:"start"`     // wall clock, ~1 µs
	Elapsed   time.Duration `json:"elapsed"`
}

// InFlight returns the units running now (those that got an in-flight slot),
// longest-running first. Cost: one atomic load per slot of the table
// (16384 by default, ~10-20 µs), no lock on the units' path, nothing stopped.
func (m *Monitor) InFlight() []InFlightUnit {
	nowC := ticks() >> coarseShift
	nowWall := time.Now()
	var out []InFlightUnit
	for _, sg := range *m.table.segs.Load() {
		for i := range sg.slots {
			s := &sg.slots[i]
			w := atomic.LoadUint64(&s.word)
			if w&activeBit == 0 {
				continue
			}
			u := m.unitByIdx((w >> unitShift) & (1<<unitIdxBits - 1))
			if u == nil {
				continue
			}
			g := atomic.LoadInt64(&sg.goids[i])
			if uint64(g)&tagMask != (w>>tagShift)&tagMask || atomic.LoadUint64(&s.word) != w {
				g = 0 // id not stored yet, or the slot changed hands meanwhile
			}
			el := time.Duration(ticksToNS(elapsedCoarse(nowC, w) << coarseShift))
			out = append(out, InFlightUnit{Unit: u.name, Goroutine: g, Start: nowWall.Add(-el), Elapsed: el})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Elapsed > out[j].Elapsed })
	return out
}

// InFlight returns the default monitor's units in flight.
func InFlight() []InFlightUnit { return Default().InFlight() }
