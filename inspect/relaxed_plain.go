//go:build linux && amd64 && !race

package inspect

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Per-P data (see percpu.go) has one writer at a time: the goroutine that
// pinned the P. Its stores need no lock prefix, only to be single, untorn
// 64-bit stores, which every aligned MOV on amd64 is; x86's total store
// order then publishes them to the watchdog's and Snapshot's atomic loads in
// program order. Go's atomic.Store is an XCHG (a full fence, ~10 ns here),
// which is exactly the cost this avoids. Under the race detector, and on
// other architectures, relaxed_atomic.go uses sync/atomic instead.

func storeU64(p *uint64, v uint64) { *p = v }

func storeI64(p *int64, v int64) { *p = v }

func addU64(p *uint64, v uint64) { *p += v }

func storePtr(p *unsafe.Pointer, v unsafe.Pointer) { *p = v }

// flushStores makes every store that any thread of the process has made so
// far visible to the caller, or reports false if it cannot: the watchdog
// calls it before deciding the table is empty and exiting (see tryExit), so
// that a Begin whose plain store of its slot word was still in its CPU's
// store buffer, and which read wdRunning as true, is seen. It is the
// membarrier(2) system call, private expedited (Linux 4.14+): an IPI to the
// CPUs running the process's threads, ~0.4 µs here, once per idle exit.
func flushStores() bool {
	membarrierOnce.Do(func() {
		_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierRegisterPrivateExpedited, 0, 0)
		membarrierOK = e == 0
	})
	if !membarrierOK {
		return false
	}
	_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierPrivateExpedited, 0, 0)
	return e == 0
}

const (
	membarrierPrivateExpedited         = 1 << 3
	membarrierRegisterPrivateExpedited = 1 << 4
)

var (
	membarrierOnce sync.Once
	membarrierOK   bool
)
