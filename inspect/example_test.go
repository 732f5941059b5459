package inspect_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hotloop/hotloop/inspect"
)

func ExampleDo() {
	err := inspect.Do(context.Background(), "flush", func(ctx context.Context) error {
		// ... write a batch ...
		return nil
	})
	fmt.Println(err)
	// Output: <nil>
}

func ExampleBegin() {
	handle := func(ctx context.Context, msg string) {
		defer inspect.Begin(ctx, "handle").End()
		_ = msg // ... parse, route ...
	}
	handle(context.Background(), "hello")

	// In a hot loop, resolve the name once.
	rewrite := inspect.NewUnit("rewrite")
	for _, msg := range []string{"a", "b", "c"} {
		r := rewrite.Begin(context.Background())
		_ = msg // ... rewrite msg ...
		r.End()
	}
	for _, st := range inspect.Snapshot() {
		if st.Name == "handle" || st.Name == "rewrite" {
			fmt.Println(st.Name, st.Count, st.InFlight)
		}
	}
	// Output:
	// handle 1 0
	// rewrite 3 0
}

func ExampleNewBudget() {
	// A CPU-bound loop that shares its P: it yields every 500 µs of work
	// instead of holding the P until the runtime preempts it.
	b := inspect.NewBudget(500 * time.Microsecond)
	sum := 0
	for i := range 10_000_000 {
		sum += i % 7
		b.Yield()
	}
	fmt.Println(sum)
	// Output: 29999994
}

func ExampleNewMonitor() {
	stalls := make(chan inspect.Stall, 16)
	m := inspect.NewMonitor(inspect.Config{
		Slow:    20 * time.Millisecond,
		OnStall: func(s inspect.Stall) { stalls <- s },
	})
	defer m.Close()

	release := make(chan struct{})
	go m.Do(context.Background(), "wait-for-peer", func(ctx context.Context) error {
		<-release // stuck here until the report below has been read
		return nil
	})
	s := <-stalls
	fmt.Println(s.Unit, s.State, s.OnCPU, s.Done)
	close(release)
	for s = <-stalls; !s.Done; s = <-stalls {
	}
	fmt.Println(s.Unit, "done")
	// Output:
	// wait-for-peer chan receive false false
	// wait-for-peer done
}
