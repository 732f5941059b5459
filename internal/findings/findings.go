// Package findings is the shape of a diagnosis: what kind of problem, which Go
// function is to blame (with file:line), the figures that back it, and what to
// do. Probes and trace analysis build findings; the CLI and the agent only show them.
package findings

import (
	"github.com/hotloop/hotloop/inspect"
)

// Kind says what kind of problem a finding is.
type Kind string

const (
	CPUBoundLoop   Kind = "cpu-bound loop"       // a goroutine ran long without yielding
	Starvation     Kind = "scheduler starvation" // runnable goroutines waited for a P
	GC             Kind = "gc"                   // GC cycles, pauses or assists hurt latency
	Stall          Kind = "stall"                // an inspect unit ran past its threshold
	BlockedChan    Kind = "blocked on channel"
	BlockedMutex   Kind = "blocked on mutex"
	BlockedIO      Kind = "blocked on IO"
	BlockedSyscall Kind = "blocked in syscall"
	Sleep          Kind = "sleep"
	Idle           Kind = "idle" // waiting with no work: network poll, idle channel receive
)

// Evidence is one figure behind a finding.
type Evidence struct {
	Name  string  `json:"name"`           // "max running slice", "p99 in GC windows"
	Value float64 `json:"value"`          // in Unit
	Unit  string  `json:"unit,omitempty"` // "seconds", "bytes", "ratio", "count"
	Text  string  `json:"text,omitempty"` // the figure as people read it: "412ms"
}

// Finding is one diagnosed problem.
type Finding struct {
	Kind      Kind            `json:"kind"`
	Title     string          `json:"title"`           // one line for people
	Culprit   inspect.Frame   `json:"culprit"`         // the user-code frame held responsible
	Stack     []inspect.Frame `json:"stack,omitempty"` // leaf first, bounded
	Goroutine int64           `json:"goroutine,omitempty"`
	Unit      string          `json:"unit,omitempty"` // the inspect unit the culprit ran in
	Evidence  []Evidence      `json:"evidence,omitempty"`
	Advice    string          `json:"advice,omitempty"`
	Score     float64         `json:"score"` // ranking weight: higher is worse
}
