//go:build !linux || !amd64 || race

package inspect

import (
	"sync/atomic"
	"unsafe"
)

// The sync/atomic forms of relaxed_plain.go: for the race detector, which
// must see the per-P data's hand-over between goroutines as synchronised,
// and for weaker memory models than x86's.

func storeU64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

func storeI64(p *int64, v int64) { atomic.StoreInt64(p, v) }

func addU64(p *uint64, v uint64) { atomic.AddUint64(p, v) }

func storePtr(p *unsafe.Pointer, v unsafe.Pointer) { atomic.StorePointer(p, v) }

// flushStores: with sync/atomic stores there is nothing to flush (an amd64
// atomic store is a full fence; arm64's store-release is ordered before a
// later load-acquire).
func flushStores() bool { return true }
