package inspect

import (
	"runtime"
	"time"
)

// Budget makes a long CPU-bound loop share its P: b.Yield() inside the loop
// calls runtime.Gosched once the time slice is used up, and is nearly free
// otherwise (Scipio's yield_if_needed). Go preempts a running goroutine only
// every ~10 ms, and a goroutine that yields on its own lets latency-sensitive
// goroutines on the same P run within one slice.
//
// Yield does not read the clock on every call: it counts calls down and
// reads the clock every N calls, with N adapted so that N calls take about
// an eighth of the slice. Cost when the slice is not used up: a decrement
// and a branch (~1 ns, BenchmarkBudgetYield). A Budget belongs to one
// goroutine; it is not safe for concurrent use.
type Budget struct {
	slice   int64 // ns
	start   int64 // nanotime at the start of the current slice
	last    int64 // nanotime at the last clock read
	every   int64 // calls between clock reads
	left    int64 // calls until the next clock read
	yielded uint64
}

const maxBudgetEvery = 1 << 20

// NewBudget returns a Budget with time slice d (minimum 1 µs).
func NewBudget(d time.Duration) Budget {
	d = max(d, time.Microsecond)
	now := nanotime()
	return Budget{slice: int64(d), start: now, last: now, every: 1, left: 1}
}

// Yield calls runtime.Gosched if the slice is used up, starting a new slice,
// and reports whether it did.
func (b *Budget) Yield() bool {
	b.left--
	if b.left > 0 {
		return false
	}
	return b.check()
}

// check reads the clock, re-tunes the call interval, and yields if due.
func (b *Budget) check() bool {
	if b.slice == 0 { // zero Budget: behave as a 1 ms one
		*b = NewBudget(time.Millisecond)
	}
	now := nanotime()
	// Aim for slice/8 between clock reads: per-call time is measured over
	// the last interval; grow at most 2x at a time so one fast burst does
	// not make the next read late.
	if spent := now - b.last; spent > 0 {
		perCall := max(spent/b.every, 1)
		target := max(b.slice/8/perCall, 1)
		b.every = min(target, 2*b.every, maxBudgetEvery)
	} else {
		b.every = min(2*b.every, maxBudgetEvery)
	}
	b.left = b.every
	b.last = now
	if now-b.start < b.slice {
		return false
	}
	runtime.Gosched()
	b.yielded++
	b.start = nanotime()
	b.last = b.start
	return true
}

// Yields returns how many times Yield called runtime.Gosched.
func (b *Budget) Yields() uint64 { return b.yielded }

// Reset starts a new slice now, e.g. when the loop resumes after blocking.
func (b *Budget) Reset() {
	b.start = nanotime()
	b.last = b.start
}
