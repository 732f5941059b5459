package inspect

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"unsafe"
)

// Why we read the goroutine id at all: the watchdog must find a stuck unit's
// stack in a goroutine dump while the unit is still stuck, and the only key the
// dump offers is "goroutine 18 [...]". Go has no API for the current goroutine
// id, and parsing runtime.Stack at every Begin would cost about a microsecond.
//
// So Begin reads the id straight out of the runtime's g struct: an assembly
// getg (one TLS or register load) plus one load at a fixed offset. The offset
// is not taken from a per-Go-version table (as github.com/petermattis/goid
// does, which silently returns garbage if a future runtime moves the field);
// it is found once, at first use, by looking in the g of a few goroutines for
// the word equal to the id that runtime.Stack prints, and accepted only if
// every probe agrees. If calibration fails, ids are 0 and stall reports come
// without a stack; nothing else changes. Cost: ~1-2 ns per Begin.

// goidScanWords bounds the calibration scan: the goid field sits at byte 152
// of runtime.g in Go 1.23-1.26 and g is well over 256 bytes (checkptr, on
// under -race, verifies the reads stay inside the object), so
// the scan never reads past the object.
const goidScanWords = 32

var (
	goidOnce   sync.Once
	goidOffset uintptr // 0 means unknown
)

// curGoid returns the current goroutine's id, or 0 when it cannot be read
// cheaply on this platform.
func curGoid() int64 {
	off := goidOffset
	if off == 0 {
		return 0
	}
	return *(*int64)(unsafe.Add(getg(), off))
}

// initGoid calibrates goidOffset; it is called when a Monitor is created,
// never on the fast path.
func initGoid() { goidOnce.Do(func() { goidOffset = calibrateGoid() }) }

// slowGoid parses the id out of this goroutine's own stack header.
func slowGoid() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		if id, err := strconv.ParseInt(string(b[:i]), 10, 64); err == nil {
			return id
		}
	}
	return 0
}

// offsetsMatching returns the byte offsets in the current g holding want.
func offsetsMatching(want int64) []uintptr {
	g := getg()
	if g == nil || want <= 0 {
		return nil
	}
	var offs []uintptr
	for i := uintptr(0); i < goidScanWords; i++ {
		if *(*int64)(unsafe.Add(g, i*8)) == want {
			offs = append(offs, i*8)
		}
	}
	return offs
}

func calibrateGoid() uintptr {
	if !haveGetg {
		return 0
	}
	cands := offsetsMatching(slowGoid())
	// Confirm on other goroutines (other ids, other g objects): a field that
	// merely happened to equal the id here will not equal it there.
	for range 4 {
		ch := make(chan []uintptr)
		go func() { ch <- offsetsMatching(slowGoid()) }()
		got := <-ch
		var keep []uintptr
		for _, c := range cands {
			for _, o := range got {
				if c == o {
					keep = append(keep, c)
				}
			}
		}
		cands = keep
	}
	if len(cands) == 0 {
		return 0
	}
	return cands[0]
}
