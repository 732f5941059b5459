//go:build linux

package probes

import (
	"bytes"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// threadMark is where the thread running the sentinel stood before it slept:
// its id and the kernel's per-thread counters from schedstat (time on a CPU,
// time waiting on a run queue). Reading it costs an open/read/close of
// /proc/thread-self/schedstat, ~3-5 µs, once per sentinel tick.
type threadMark struct {
	tid         int
	exec, delay time.Duration
	ok          bool
}

func markThread() threadMark {
	// The tid and the counters must come from the same thread: gettid and
	// the read run back to back, with no call that could reschedule between.
	tid := unix.Gettid()
	exec, delay, ok := readSchedstat("/proc/thread-self/schedstat")
	return threadMark{tid: tid, exec: exec, delay: delay, ok: ok}
}

// since returns how long the marked thread ran and waited for a CPU since m.
func (m threadMark) since() (ran, waited time.Duration, ok bool) {
	if !m.ok {
		return 0, 0, false
	}
	exec, delay, ok := readSchedstat("/proc/self/task/" + strconv.Itoa(m.tid) + "/schedstat")
	if !ok {
		return 0, 0, false
	}
	return exec - m.exec, delay - m.delay, true
}

func readSchedstat(path string) (exec, delay time.Duration, ok bool) {
	var buf [96]byte
	// Plain system calls: os.Open's *File (and its finalizer) would be five
	// allocations per tick.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, false
	}
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil || n <= 0 {
		return 0, 0, false
	}
	fields := bytes.Fields(buf[:n])
	if len(fields) < 2 {
		return 0, 0, false
	}
	e, err1 := strconv.ParseInt(string(fields[0]), 10, 64)
	d, err2 := strconv.ParseInt(string(fields[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return time.Duration(e), time.Duration(d), true
}
