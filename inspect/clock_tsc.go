//go:build linux && amd64

package inspect

import (
	"bufio"
	"os"
	"strings"
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
