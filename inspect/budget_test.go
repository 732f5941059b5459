package inspect

import (
	"testing"
	"time"
)

func TestBudgetYieldsWhenSliceUsedUp(t *testing.T) {
	b := NewBudget(time.Millisecond)
	start := time.Now()
	calls := 0
	// Busy work until the budget has yielded three times.
	for b.Yields() < 3 {
		b.Yield()
		calls++
		if time.Since(start) > 20*time.Second {
			t.Fatal("no yields within 20s")
		}
	}
	if el := time.Since(start); el < 3*time.Millisecond {
		t.Errorf("3 yields after %v, before 3 slices were used up", el)
	}
	// It must not read the clock on every call: the interval has grown.
	if b.every < 8 {
		t.Errorf("clock read every %d calls after %d calls", b.every, calls)
	}
}

func TestBudgetNoYieldWithinSlice(t *testing.T) {
	b := NewBudget(time.Hour)
	for range 1_000_000 {
		if b.Yield() {
			t.Fatal("yielded within an hour-long slice")
		}
	}
	if b.every < 1000 {
		t.Errorf("clock read every %d calls", b.every)
	}
}

func TestBudgetZeroValue(t *testing.T) {
	var b Budget
	for range 100 {
		b.Yield()
	}
	if b.slice != int64(time.Millisecond) {
		t.Errorf("zero Budget slice = %v", time.Duration(b.slice))
	}
	b.Reset()
}
