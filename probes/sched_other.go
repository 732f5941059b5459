//go:build !linux

package probes

import "time"

// Without Linux's per-thread schedstat the detector cannot tell the OS's
// delays from the Go scheduler's; it then relies on the goroutine dumps alone.
type threadMark struct{}

func markThread() threadMark { return threadMark{} }

func (threadMark) since() (ran, waited time.Duration, ok bool) { return 0, 0, false }
