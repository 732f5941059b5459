package inspect

import (
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// Examples use the default monitor, whose watchdog exits by itself
		// after a second with nothing in flight: wait for that (it is part
		// of the contract), then check that nothing else outlived its test.
		if d := defaultMon.Load(); d != nil {
			deadline := time.Now().Add(10 * time.Second)
			for d.wdRunning.Load() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
