//go:build !unix

package flame

import "time"

// processCPUTime is unknown here: the CPU-second metric is left out.
func processCPUTime() time.Duration { return 0 }
