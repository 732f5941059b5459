//go:build race

package flame

// raceEnabled: the race detector slows the reader and renderer 10-50x, so
// wall-clock budgets are not checked under it.
const raceEnabled = true
