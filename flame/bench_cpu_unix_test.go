//go:build unix

package flame

import (
	"syscall"
	"time"
)

// processCPUTime is the user+system CPU time of this process so far. The
// benchmarks report throughput per CPU second beside the wall-clock figure,
// which a loaded machine inflates.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
