package inspecttest_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hotloop/hotloop/inspect"
	"github.com/hotloop/hotloop/inspect/inspecttest"
)

// In a test, one line: func TestX(t *testing.T) { defer inspecttest.Check(t); ... }
// Here a fake TestingT shows what a failing test prints.
func ExampleCheck() {
	reported := make(chan inspect.Stall, 8)
	m := inspect.NewMonitor(inspect.Config{
		Slow:    20 * time.Millisecond,
		OnStall: func(s inspect.Stall) { reported <- s },
	})
	defer m.Close()

	release := make(chan struct{})
	go m.Do(context.Background(), "fetch", func(context.Context) error {
		<-release // the test's code under test, stuck
		return nil
	})
	<-reported
	close(release)
	for s := <-reported; !s.Done; s = <-reported {
	}

	t := &fakeT{}
	inspecttest.Check(t, inspecttest.Monitor(m))
	first, _, _ := strings.Cut(t.errs[0], "\n")
	fmt.Println(first)
	fmt.Println(strings.Contains(t.errs[0], `unit "fetch" stalled`), strings.Contains(t.errs[0], "[chan receive]"))
	// Output:
	// inspecttest: units stalled during the test:
	// true true
}
