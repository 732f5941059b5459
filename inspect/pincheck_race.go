//go:build race

package inspect

import "sync/atomic"

// Under the race detector every per-P store is a sync/atomic one, so the
// detector cannot see two goroutines in one P's pinned section at once, the
// breach of single-writer ownership that would lose counts in a normal
// build. enter and leave check for it instead.

func (ps *procState) enter() {
	if !atomic.CompareAndSwapInt64(&ps.owner, 0, 1) {
		panic("inspect: two goroutines in one P's pinned section")
	}
}

func (ps *procState) leave() { atomic.StoreInt64(&ps.owner, 0) }
