//go:build linux && amd64

package inspect

import (
	"bufio"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

const haveTSC = true

// rdtsc reads the time-stamp counter (clock_amd64.s). No fence: a unit's
// timing does not need the instruction stream serialised around it, and the
// counter is the same one the kernel's clock reads.
func rdtsc() int64

// cpuFlags reports whether the first CPU in /proc/cpuinfo has every flag.
func cpuFlags(want ...string) bool {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != "flags" {
			continue
		}
		have := map[string]bool{}
		for _, fl := range strings.Fields(val) {
			have[fl] = true
		}
		for _, w := range want {
			if !have[w] {
				return false
			}
		}
		return true
	}
	return false
}

// tscEnabled reports whether RDTSC runs on this thread rather than faulting
// (prctl(PR_SET_TSC, PR_TSC_SIGSEGV) is per process in practice: it is
// inherited and rarely set).
func tscEnabled() bool {
	var v int32
	if err := unix.Prctl(unix.PR_GET_TSC, uintptr(unsafe.Pointer(&v)), 0, 0, 0); err != nil {
		return true // no such prctl: nothing can have turned RDTSC off
	}
	return v == unix.PR_TSC_ENABLE
}
