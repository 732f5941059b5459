// Package traceanalysis reads a Go execution trace (runtime/trace, parsed with
// golang.org/x/exp/trace) in one streaming pass and says where the time of the
// goroutines went: CPU-bound loops that never yield, waits by reason, scheduling
// latency, GC pauses. It produces ranked findings and three pprof profiles.
//
// # What it computes
//
// Running slices: the time a goroutine stays in the running state, from being
// scheduled until it blocks, is preempted, yields, enters a syscall or exits.
// The longest slices are kept with the stack where each ended. A goroutine's
// slices of at least LongSlice (10ms, the runtime's preemption quantum) are
// credited, when it ends, to the deepest user-code frame that is on the
// preemption stacks of at least half (by time) of them: a loop is preempted at
// different points of its body, and the frame they share is the loop. The
// majority, not all: the tracer unwinds by frame pointers, which loses the
// caller of a frameless leaf function, so some preemption stacks miss the loop
// frame. User code is everything outside the standard library (import paths
// whose first element has a dot, plus main).
//
// Waits: a goroutine that leaves running for waiting or a syscall waits until
// it becomes runnable (or running) again. The reason uses the runtime's words,
// as goroutine dumps print them: "chan receive", "chan send", "select", "IO
// wait" (the trace's "network"), "sleep", "syscall", "sync.Cond.Wait", and the
// trace's "sync" refined from the blocking stack into "sync.Mutex.Lock",
// "sync.RWMutex.RLock", "sync.RWMutex.Lock", "sync.WaitGroup.Wait" or
// "semacquire". Goroutines already waiting when the trace began are recorded
// by the runtime without a reason and usually without a stack ("unspecified"),
// when they are first mentioned, which may be long after the trace began: no
// event touched them before, so their wait is counted from the trace's start.
// Goroutines that neither run nor change state during the whole trace are not
// in it at all (the runtime writes nothing for them): an idle connection that
// stays idle costs nothing and is not counted. Waits still in progress at the
// end are counted up to the end.
//
// Scheduling latency: runnable until running, per goroutine creation site (the
// goroutine's entry function above the stack of the go statement) and per
// trace region type. Region types stand for inspect units where a program marks
// them with runtime/trace regions; inspect itself labels goroutines with pprof
// labels, which execution traces do not record.
//
// GC: mark phases, stop-the-world windows (count, total, longest, reason) and
// mark assists, credited to the user frame that was allocating. A cycle's
// start event carries the stack of the goroutine that started it; one with
// runtime.GC (or debug.FreeOSMemory) on it was forced, and its caller, the
// first user frame, becomes the GC finding's culprit.
//
// On-CPU: the trace's CPU samples, present when a CPU profile ran while
// tracing (runtime/pprof at its fixed 100 Hz; each sample counts 10ms).
//
// # Idle waits
//
// An idle server's off-CPU profile is all waiting; that waiting is not a cost.
// A wait is idle when the goroutine was waiting for work, not for a result:
//
//  1. it waits in accept (internal/poll.(*FD).Accept), on an empty select or
//     nil channel, or is one of the runtime's own background workers
//     ("system goroutine wait", "GC sweep wait", "GC weak to strong wait"): always idle;
//  2. otherwise only candidate waits can be idle: "chan receive", "select",
//     "sync.Cond.Wait", an "IO wait" in a read (internal/poll.(*FD).Read*,
//     RawRead, pollDesc.waitRead), or an unknown wait begun before the trace;
//  3. a candidate still waiting when the trace ends is idle: nothing came for
//     it in the whole window;
//  4. a candidate that ended is idle when all of these hold: it lasted at
//     least IdleMinWait (1ms); while it lasted, on average at least half a P
//     was idle (the program had capacity: the goroutine was not waiting for a
//     producer that could not run); and after waking the goroutine ran at most
//     IdleMaxWork (1ms) of CPU before it waited again (it woke, found little
//     to do, and went back). A goroutine that wakes and then exits was
//     waiting for an outcome: not idle. One that is still running when the
//     trace ends cannot be judged: not idle.
//
// Idle samples carry the pprof label idle="true" (others "false"), so
// `go tool pprof -tagignore idle=true` drops them; Options.DropIdle leaves
// them out of the profile and the findings altogether. Result.Waits keeps
// both totals either way.
//
// # Profiles
//
// OffCPU: sample types waits/count and off-cpu/nanoseconds (the default). The
// wait reason is the ROOT frame, in brackets ("[chan receive]"), so a flame
// graph splits first by why goroutines waited, then shows where, and a
// reason's total is one box; labels reason and idle. SchedLatency: delays/count
// and sched-latency/nanoseconds; the leaf is "go pkg.entry" of the goroutine,
// below it the creating stack; label unit when the goroutine was in a region.
// OnCPU: samples/count and cpu/nanoseconds.
//
// # Costs
//
// Memory: the parser holds about one generation of the trace (what the runtime
// flushed in about a second); the analysis keeps a few words per live
// goroutine, interned stacks (MaxStacks, default 65536, of at most MaxDepth
// frames) and fixed-size aggregates; never the events. Time: linear in the
// trace; parsing runs in its own goroutine, a few 1024-event batches ahead of
// the analysis, so on two cores the analysis mostly overlaps the parser.
// BENCHMARKS.md has the figures for a 100 MB trace.
//
// # Findings and their scores
//
// Scores are goroutine-seconds lost per second of trace, weighted by harm:
// cpu-bound loop: time in long slices x 10 (a goroutine that does not yield
// delays every goroutine queued behind it); blocked (chan, mutex, IO, syscall,
// sleep): total wait, i.e. the average number of goroutines waiting there;
// scheduling latency: total latency at the creation site; GC: stop-the-world
// x 10 plus assists; idle: total x 0.01, listed but ranked last. Waits of
// runtime-only stacks appear in the profiles but not as findings.
package traceanalysis
