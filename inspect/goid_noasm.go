//go:build !gc || !(amd64 || arm64 || 386)

package inspect

import "unsafe"

// getg is unavailable on this platform: units are still timed and counted,
// but the watchdog cannot name their goroutine, so stall reports carry no
// stack (Stall.Goroutine is 0).
func getg() unsafe.Pointer { return nil }

const haveGetg = false
