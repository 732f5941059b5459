package traceanalysis

import (
	"github.com/hotloop/hotloop/internal/findings"
)

// Wait reasons are named with the runtime's own words, the ones a goroutine
// dump prints ("chan receive", "IO wait", "sync.Mutex.Lock", ...), not the
// execution trace's shorter block reasons ("network", "sync"): the trace's
// "sync" is refined from the blocking stack, so a mutex and a WaitGroup are told
// apart.
const (
	reasonChanRecv  = "chan receive"
	reasonChanSend  = "chan send"
	reasonSelect    = "select"
	reasonForever   = "forever" // nil channel, empty select
	reasonIO        = "IO wait"
	reasonSyscall   = "syscall"
	reasonSleep     = "sleep"
	reasonMutex     = "sync.Mutex.Lock"
	reasonRLock     = "sync.RWMutex.RLock"
	reasonWLock     = "sync.RWMutex.Lock"
	reasonWaitGroup = "sync.WaitGroup.Wait"
	reasonCond      = "sync.Cond.Wait"
	reasonSema      = "semacquire"
	reasonGCAssist  = "GC assist wait"
	reasonGCSweep   = "GC sweep wait"
	reasonGCWait    = "wait until GC ends"
	reasonGCWeak    = "GC weak to strong wait"
	reasonSystem    = "system goroutine wait"
	reasonDebugCall = "wait for debug call"
	reasonSynctest  = "synctest"
	reasonUnknown   = "unspecified"
	reasonOther     = "other"
	maxRawReasons   = 32 // distinct unknown reason strings kept verbatim; more fold into "other"
)

// traceReasons maps the trace's block reasons to the runtime's words.
var traceReasons = map[string]string{
	"chan receive":                 reasonChanRecv,
	"chan send":                    reasonChanSend,
	"select":                       reasonSelect,
	"forever":                      reasonForever,
	"network":                      reasonIO,
	"sleep":                        reasonSleep,
	"sync.(*Cond).Wait":            reasonCond,
	"GC mark assist wait for work": reasonGCAssist,
	"GC background sweeper wait":   reasonGCSweep,
	"wait until GC ends":           reasonGCWait,
	"GC weak to strong wait":       reasonGCWeak,
	"system goroutine wait":        reasonSystem,
	"wait for debug call":          reasonDebugCall,
	"synctest":                     reasonSynctest,
	"unspecified":                  reasonUnknown,
	"":                             reasonUnknown,
	"sync":                         reasonSema,
	"preempted":                    reasonOther,
	"runtime.Gosched":              reasonOther,
}

// syncRefine names a "sync" block by the sync function on its stack.
var syncRefine = []struct{ fn, reason string }{
	{"sync.(*Mutex).Lock", reasonMutex},
	{"sync.(*Mutex).lockSlow", reasonMutex},
	{"internal/sync.(*Mutex).lockSlow", reasonMutex},
	{"sync.(*RWMutex).RLock", reasonRLock},
	{"sync.(*RWMutex).Lock", reasonWLock},
	{"sync.(*WaitGroup).Wait", reasonWaitGroup},
	{"sync.(*Cond).Wait", reasonCond},
}

// stackRefine infers a reason from the blocking stack when the trace gives
// none (goroutines already waiting when the trace started).
var stackRefine = []struct{ fn, reason string }{
	{"runtime.chanrecv", reasonChanRecv},
	{"runtime.chansend", reasonChanSend},
	{"runtime.selectgo", reasonSelect},
	{"runtime.block", reasonForever},
	{"internal/poll.runtime_pollWait", reasonIO},
	{"runtime.netpollblock", reasonIO},
	{"time.Sleep", reasonSleep},
	{"runtime.timeSleep", reasonSleep},
	{"sync.(*Cond).Wait", reasonCond},
	{"sync.(*WaitGroup).Wait", reasonWaitGroup},
	{"sync.(*RWMutex).RLock", reasonRLock},
	{"sync.(*RWMutex).Lock", reasonWLock},
	{"sync.(*Mutex).Lock", reasonMutex},
	{"internal/sync.(*Mutex).lockSlow", reasonMutex},
	{"runtime.semacquire1", reasonSema},
}

// kindOf says which finding kind a wait reason belongs to. ok is false for
// the runtime's own waits, which are no user's blocking problem.
func kindOf(reason string) (k findings.Kind, ok bool) {
	switch reason {
	case reasonChanRecv, reasonChanSend, reasonSelect, reasonForever:
		return findings.BlockedChan, true
	case reasonIO:
		return findings.BlockedIO, true
	case reasonSyscall:
		return findings.BlockedSyscall, true
	case reasonSleep:
		return findings.Sleep, true
	case reasonMutex, reasonRLock, reasonWLock, reasonWaitGroup, reasonCond, reasonSema:
		// findings has no kind for WaitGroup or Cond waits; they are
		// synchronisation primitives like the mutex, and the title names
		// the exact one.
		return findings.BlockedMutex, true
	case reasonGCAssist, reasonGCWait:
		return findings.GC, true
	case reasonGCSweep, reasonGCWeak, reasonSystem, reasonDebugCall, reasonSynctest:
		return "", false
	}
	return "", true
}

// reasonTable turns trace reason strings into small indexes, so per-block
// state and profile keys stay small.
type reasonTable struct {
	names []string
	index map[string]uint8
	raw   int
}

func newReasonTable() *reasonTable {
	return &reasonTable{index: make(map[string]uint8)}
}

func (r *reasonTable) id(name string) uint8 {
	if i, ok := r.index[name]; ok {
		return i
	}
	if len(r.names) >= 255 {
		return r.id(reasonOther)
	}
	i := uint8(len(r.names))
	r.names = append(r.names, name)
	r.index[name] = i
	return i
}

// classify returns the reason index for a goroutine that started waiting with
// the trace's reason raw and blocking stack s.
func (a *analyzer) classify(raw string, s stackID) uint8 {
	name, known := traceReasons[raw]
	if !known {
		// A reason this version does not know: keep the runtime's word,
		// up to a cap (a hostile trace could invent any number).
		if _, seen := a.reasons.index[raw]; seen || a.reasons.raw < maxRawReasons {
			if !seen {
				a.reasons.raw++
			}
			return a.reasons.id(raw)
		}
		return a.reasons.id(reasonOther)
	}
	switch name {
	case reasonSema:
		for _, r := range syncRefine {
			if a.stacks.hasFunc(s, r.fn) {
				return a.reasons.id(r.reason)
			}
		}
	case reasonUnknown:
		for _, r := range stackRefine {
			if a.stacks.hasFunc(s, r.fn) {
				return a.reasons.id(r.reason)
			}
		}
	}
	return a.reasons.id(name)
}
