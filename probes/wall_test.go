package probes

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"go.uber.org/goleak"
)

// sleepyWall waits on a timer until stop closes: off-CPU the whole time, so
// only a wall-clock profile sees it.
//
//go:noinline
func sleepyWall(stop <-chan struct{}, started chan<- struct{}) {
	close(started)
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func wallOf(t *testing.T, prof *profile.Profile, fn string) int64 {
	t.Helper()
	var total int64
	for _, s := range prof.Sample {
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if l.Function != nil && strings.HasSuffix(l.Function.Name, fn) {
					total += s.Value[len(s.Value)-1]
					goto next
				}
			}
		}
	next:
	}
	return total
}

func TestWallProfileSeesSleepingFunction(t *testing.T) {
	defer goleak.VerifyNone(t)
	stop := make(chan struct{})
	started := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); sleepyWall(stop, started) }()
	<-started
	var buf bytes.Buffer
	err := WallProfile(context.Background(), 300*time.Millisecond, &buf)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	prof, err := profile.Parse(&buf)
	if err != nil {
		t.Fatalf("parsing the wall-clock profile: %v", err)
	}
	if err := prof.CheckValid(); err != nil {
		t.Fatal(err)
	}
	got := wallOf(t, prof, "probes.sleepyWall")
	if got <= 0 {
		t.Fatalf("probes.sleepyWall has no wall time in the profile (sample types %v, %d samples)", prof.SampleType, len(prof.Sample))
	}
	// It was there the whole 300ms: at least half of it must show.
	if unit := prof.SampleType[len(prof.SampleType)-1].Unit; unit == "nanoseconds" && got < int64(150*time.Millisecond) {
		t.Errorf("sleepyWall wall time %s, want >= 150ms of the 300ms", time.Duration(got))
	}
}

func TestWallProfileContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	if err := WallProfile(ctx, time.Second, &buf); err == nil || buf.Len() != 0 {
		t.Errorf("cancelled context: err %v, %d bytes written", err, buf.Len())
	}
	// Ending midway: returns early with what was collected.
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- WallProfile(ctx, time.Hour, &buf) }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("WallProfile did not return when its context ended")
	}
	if _, err := profile.Parse(&buf); err != nil {
		t.Errorf("profile written after cancel does not parse: %v", err)
	}
	if err := WallProfile(context.Background(), 0, &buf); err == nil {
		t.Error("zero duration: want error")
	}
}
