//go:build unix

package flame

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user+system) of this process so far. Benchmarks
// report it per operation beside wall time: on a shared, loaded machine wall
// time counts the time the benchmark waited for a CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
