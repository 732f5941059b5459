package probes

import (
	"bytes"
	"runtime"
	"strconv"
)

// curGoroutineID returns the calling goroutine's id from its stack header. It
// costs one runtime.Stack of the current goroutine (~1 µs) and is called once
// per probe goroutine, so the detector can leave its own goroutines out.
func curGoroutineID() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, ok := bytes.CutPrefix(b, []byte("goroutine "))
	if !ok {
		return 0
	}
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseInt(string(b), 10, 64)
	return id
}
