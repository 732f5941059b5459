package forwarder

import (
	"context"
	"runtime"
	"time"
)

// TEMPORARY until package inspect lands.
func doUnit(ctx context.Context, name string, fn func(context.Context) error) error { return fn(ctx) }

type budget struct {
	d     time.Duration
	start time.Time
	n     int
}

func newBudget(d time.Duration) *budget { return &budget{d: d, start: time.Now()} }

func (b *budget) Yield() {
	b.n++
	if b.n&63 != 0 {
		return
	}
	if time.Since(b.start) >= b.d {
		runtime.Gosched()
		b.start = time.Now()
	}
}
