//go:build race

package inspect

import "testing"

// TestPinCheckDetects shows the race-build ownership check can fail.
func TestPinCheckDetects(t *testing.T) {
	var ps procState
	ps.enter()
	defer func() {
		if recover() == nil {
			t.Error("a second enter into a held pinned section did not panic")
		}
	}()
	ps.enter()
}
