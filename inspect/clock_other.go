//go:build !linux || !amd64

package inspect

const haveTSC = false

// rdtsc is never called where haveTSC is false.
func rdtsc() int64 { return nanotime() }

func cpuFlags(...string) bool { return false }

func tscEnabled() bool { return false }
