//go:build gc && (amd64 || arm64 || 386)

package inspect

import "unsafe"

// getg returns the runtime's pointer to the current goroutine (the g). It is
// implemented in assembly (goid_*.s), costs a call and one load, and is only
// ever used to read the goroutine id at the offset found by calibrateGoid.
func getg() unsafe.Pointer

const haveGetg = true
