package inspect

import (
	"fmt"
	"time"
)

// Stall is one report about a unit that ran past its threshold. The watchdog
// sends the first while the unit is still stuck, more at 2x, 4x, 8x ... the
// threshold, and a final one (Done) when the unit ends.
type Stall struct {
	// Seq numbers the monitor's reports from 1, in delivery order.
	Seq uint64 `json:"seq"`
	// Unit is the unit's name.
	Unit string `json:"unit"`
	// Goroutine is the id of the goroutine running the unit (0 if unknown).
	Goroutine int64 `json:"goroutine"`
	// Started is when the unit began (wall clock, approximate to ~1 µs).
	Started time.Time `json:"started"`
	// Elapsed is how long the unit had been running at this report; for the
	// Done report, its total duration.
	Elapsed time.Duration `json:"elapsed"`
	// Limit is the unit's threshold.
	Limit time.Duration `json:"limit"`
	// State is the goroutine's state in the runtime's own words, as in a
	// goroutine dump: "running", "runnable", "chan receive", "select",
	// "IO wait", "sync.Mutex.Lock", "sleep", "syscall", ... Empty when the
	// goroutine could not be found (id unknown, or past Config.MaxDumpBytes).
	State string `json:"state"`
	// Waiting is how long the runtime says the goroutine has been blocked in
	// State; the runtime only prints it from one minute on, so it is 0 below.
	Waiting time.Duration `json:"waiting,omitempty"`
	// OnCPU is true when the goroutine was running or runnable: it wants the
	// CPU rather than waiting for something. A goroutine running Go code shows
	// as "runnable" in a dump, because the dump stops the world and so
	// preempts it; "running" is left for the goroutine taking the dump.
	OnCPU bool `json:"on_cpu"`
	// Frames is the goroutine's stack, innermost first, at most
	// Config.MaxFrames, without inspect's own wrapper frames.
	Frames []Frame `json:"frames,omitempty"`
	// Stack is the goroutine's block of the dump, as the runtime printed it
	// (capped at 16 KiB).
	Stack string `json:"stack,omitempty"`
	// Report is 1 for the first report about this run of the unit, 2 for the
	// second, and so on.
	Report int `json:"report"`
	// Done is false while the unit is still running and true for the final
	// report, sent when it ends. The final report repeats the state and
	// frames of the last capture.
	Done bool `json:"done"`
}

// String formats the report on one line, e.g.
// `unit "decode" stuck 25ms (limit 10ms), goroutine 18 [chan receive] at main.f /src/main.go:12`.
func (s Stall) String() string {
	verb := "stuck"
	if s.Done {
		verb = "took"
	}
	state := s.State
	if state == "" {
		state = "state unknown"
	}
	out := fmt.Sprintf("unit %q %s %v (limit %v), goroutine %d [%s]", s.Unit, verb, s.Elapsed, s.Limit, s.Goroutine, state)
	if top := s.Top(); top.Function != "" {
		out += " at " + top.String()
	}
	return out
}

// Top returns the innermost frame outside the runtime (packages runtime and
// internal/...), or the zero Frame. Standard-library frames such as
// sync.(*Mutex).Lock or time.Sleep count: they say what the unit waits on.
func (s Stall) Top() Frame {
	for _, f := range s.Frames {
		if !isRuntimeFrame(f.Function) {
			return f
		}
	}
	return Frame{}
}

func isRuntimeFrame(fn string) bool {
	return hasPrefix(fn, "runtime.") || hasPrefix(fn, "internal/") || hasPrefix(fn, "runtime/internal/")
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
