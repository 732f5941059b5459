package inspecttest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/inspect/inspecttest"
	"go.uber.org/goleak"
)

// fakeT records what Check reports instead of failing the real test.
type fakeT struct{ errs []string }

func (f *fakeT) Error(args ...any) { f.errs = append(f.errs, fmt.Sprint(args...)) }

func TestCheckFailsOnStall(t *testing.T) {
	defer goleak.VerifyNone(t)
	got := make(chan inspect.Stall, 16)
	m := inspect.NewMonitor(inspect.Config{Slow: 20 * time.Millisecond, OnStall: func(s inspect.Stall) { got <- s }})
	defer m.Close()

	ft := &fakeT{}
	inspecttest.Check(ft, inspecttest.Monitor(m)) // sets the cursor: nothing yet
	if len(ft.errs) != 0 {
		t.Fatalf("clean monitor failed: %v", ft.errs)
	}

	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Do(context.Background(), "stuck-reader", func(context.Context) error {
			<-release
			return nil
		})
	}()
	<-got // reported while stuck
	close(release)
	<-done
	for s := <-got; !s.Done; s = <-got {
	}

	inspecttest.Check(ft, inspecttest.Monitor(m))
	if len(ft.errs) != 1 {
		t.Fatalf("Check reported %d errors, want 1: %v", len(ft.errs), ft.errs)
	}
	msg := ft.errs[0]
	for _, want := range []string{
		`unit "stuck-reader" stalled`,
		"past its 20ms limit (finished)",
		"[chan receive]",
		"goroutine ",
		"inspecttest_test.TestCheckFailsOnStall",
		"inspecttest_test.go:",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Count(msg, "stalled:") != 1 {
		t.Errorf("one run listed more than once:\n%s", msg)
	}

	// The next Check starts after the previous one: nothing new, no error.
	ft2 := &fakeT{}
	inspecttest.Check(ft2, inspecttest.Monitor(m))
	if len(ft2.errs) != 0 {
		t.Errorf("second Check failed again: %v", ft2.errs)
	}
}

func TestCheckFailsOnUnitStillRunning(t *testing.T) {
	defer goleak.VerifyNone(t)
	// A unit past its limit that the watchdog has not reported (here because
	// it is stopped; in real life because its next tick has not come).
	m := inspect.NewMonitor(inspect.Config{Slow: time.Millisecond, OnStall: func(inspect.Stall) {}})
	m.Close()
	r := m.Begin(context.Background(), "hung")
	deadline := time.Now().Add(10 * time.Second)
	for len(m.InFlight()) == 0 || m.InFlight()[0].Elapsed <= time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatal("unit never past its limit")
		}
		time.Sleep(time.Millisecond)
	}
	ft := &fakeT{}
	inspecttest.Check(ft, inspecttest.Monitor(m))
	r.End()
	if len(ft.errs) != 1 || !strings.Contains(ft.errs[0], `unit "hung" still running after`) {
		t.Errorf("errors %v", ft.errs)
	}
	ft = &fakeT{}
	inspecttest.Check(ft, inspecttest.Monitor(m), inspecttest.IgnoreUnits("hung"))
	if len(ft.errs) != 0 {
		t.Errorf("ignored unit reported: %v", ft.errs)
	}
}

func TestCheckPassesWithoutStalls(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := inspect.NewMonitor(inspect.Config{Slow: time.Hour})
	defer m.Close()
	for range 100 {
		m.Begin(context.Background(), "quick").End()
	}
	ft := &fakeT{}
	inspecttest.Check(ft, inspecttest.Monitor(m))
	if len(ft.errs) != 0 {
		t.Errorf("errors %v", ft.errs)
	}
}
