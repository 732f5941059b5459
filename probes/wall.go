package probes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/felixge/fgprof"
)

// WallProfile writes a wall-clock profile of every goroutine, on and off the
// CPU, taken over d (or until ctx ends, whichever is first), to w as a pprof
// protobuf: the view in which a goroutine blocked in a channel receive for a
// second weighs as much as one computing for a second. It uses
// github.com/felixge/fgprof, which samples runtime.GoroutineProfile 99 times a
// second; each sample costs about 1 µs per goroutine and briefly stops the
// world, so keep d short on processes with many goroutines (10k goroutines:
// ~1 ms per sample, ~10% of a core). If ctx ends early the profile covers the
// time until then and is still written; the error is then nil unless writing
// failed. A ctx already done before the start is reported as its error.
func WallProfile(ctx context.Context, d time.Duration, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wall-clock profile: %w", err)
	}
	if d <= 0 {
		return errors.New("wall-clock profile: duration must be positive")
	}
	stop := fgprof.Start(w, fgprof.FormatPprof)
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	if err := stop(); err != nil {
		return fmt.Errorf("wall-clock profile: writing: %w", err)
	}
	return nil
}
