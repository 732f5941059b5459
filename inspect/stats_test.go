package inspect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func quiet() Config {
	return Config{Slow: time.Hour, OnStall: func(Stall) {}}
}

func TestSnapshot(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg := quiet()
	cfg.SlowUnits = map[string]time.Duration{"b": time.Millisecond}
	m := NewMonitor(cfg)
	defer m.Close()
	ctx := context.Background()
	for range 10 {
		m.Begin(ctx, "a").End()
	}
	r := m.Begin(ctx, "b")
	time.Sleep(3 * time.Millisecond) // the work being timed, not synchronization
	r.End()
	inflight := m.Begin(ctx, "b")
	stats := m.Snapshot()
	if len(stats) != 2 || stats[0].Name != "a" || stats[1].Name != "b" {
		t.Fatalf("stats %+v", stats)
	}
	a, b := stats[0], stats[1]
	if a.Count != 10 || a.Slow != 0 || a.InFlight != 0 || a.Max > 10*time.Millisecond || a.Total < a.Max {
		t.Errorf("a = %+v", a)
	}
	if b.Count != 1 || b.Slow != 1 || b.InFlight != 1 || b.Max < 3*time.Millisecond || b.Total != b.Max || b.Limit != time.Millisecond {
		t.Errorf("b = %+v", b)
	}
	if b.P50 < 2600*time.Microsecond || b.P999 > b.Max*9/8 {
		t.Errorf("b quantiles p50 %v p999 %v max %v", b.P50, b.P999, b.Max)
	}
	inflight.End()
	if got := m.Snapshot()[1]; got.InFlight != 0 || got.Count != 2 {
		t.Errorf("after End: %+v", got)
	}
}

func TestInFlight(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := NewMonitor(quiet())
	defer m.Close()
	release := make(chan struct{})
	ids := make(chan int64, 3)
	var wg sync.WaitGroup
	for _, name := range []string{"x", "y", "y"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Do(context.Background(), name, func(context.Context) error {
				ids <- slowGoid()
				<-release
				return nil
			})
		}()
	}
	want := map[int64]bool{<-ids: true, <-ids: true, <-ids: true}
	got := m.InFlight()
	close(release)
	wg.Wait()
	if len(got) != 3 {
		t.Fatalf("in flight %+v", got)
	}
	names := map[string]int{}
	for i, u := range got {
		names[u.Unit]++
		if haveGetg && !want[u.Goroutine] {
			t.Errorf("goroutine %d not one of %v", u.Goroutine, want)
		}
		if u.Elapsed < 0 || time.Since(u.Start) < u.Elapsed-time.Millisecond {
			t.Errorf("start/elapsed %+v", u)
		}
		if i > 0 && got[i-1].Elapsed < u.Elapsed {
			t.Error("not sorted longest first")
		}
	}
	if names["x"] != 1 || names["y"] != 2 {
		t.Errorf("names %v", names)
	}
	if len(m.InFlight()) != 0 {
		t.Error("units still in flight after they ended")
	}
}

func TestUnitCap(t *testing.T) {
	defer goleak.VerifyNone(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	cfg := quiet()
	cfg.MaxUnits = 2
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	m := NewMonitor(cfg)
	defer m.Close()
	for _, n := range []string{"a", "b", "c", "d", "a", "e"} {
		m.Begin(context.Background(), n).End()
	}
	if u := m.NewUnit("zzz"); u.Name() != OverflowUnit {
		t.Errorf("name past the cap = %q", u.Name())
	}
	var got []string
	counts := map[string]uint64{}
	for _, s := range m.Snapshot() {
		got = append(got, s.Name)
		counts[s.Name] = s.Count
	}
	if strings.Join(got, ",") != "a,b,other" || counts["other"] != 3 || counts["a"] != 2 {
		t.Errorf("units %v counts %v", got, counts)
	}
	if n := strings.Count(logs.String(), "too many distinct unit names"); n != 1 {
		t.Errorf("%d warnings: %s", n, logs.String())
	}
}

func TestTableFullStillCounted(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg := quiet()
	cfg.Slots = 1 // rounded up to 64
	m := NewMonitor(cfg)
	defer m.Close()
	var rs []Region
	for range 200 {
		rs = append(rs, m.Begin(context.Background(), "x"))
	}
	st := m.Snapshot()[0]
	if st.InFlight != 200 || st.Unwatched == 0 || st.Unwatched > 200-probeSlots {
		t.Errorf("in flight %d unwatched %d", st.InFlight, st.Unwatched)
	}
	for _, r := range rs {
		r.End()
	}
	st = m.Snapshot()[0]
	if st.InFlight != 0 || st.Count != 200 {
		t.Errorf("after End: %+v", st)
	}
}

func TestBeginEndAllocs(t *testing.T) {
	m := NewMonitor(quiet())
	defer m.Close()
	ctx := context.Background()
	u := m.NewUnit("x")
	m.NewUnit("y")
	if n := testing.AllocsPerRun(1000, func() { u.Begin(ctx).End() }); n != 0 {
		t.Errorf("Unit.Begin/End: %v allocs", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.Begin(ctx, "y").End() }); n != 0 {
		t.Errorf("Begin(name)/End: %v allocs", n)
	}
	fn := func(context.Context) error { return nil }
	if n := testing.AllocsPerRun(1000, func() { u.Do(ctx, fn) }); n != 0 {
		t.Errorf("Unit.Do: %v allocs", n)
	}
}

func TestLabels(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg := quiet()
	cfg.Labels = true
	m := NewMonitor(cfg)
	defer m.Close()
	var got string
	m.Do(context.Background(), "decode", func(ctx context.Context) error {
		got, _ = pprof.Label(ctx, "unit")
		return nil
	})
	if got != "decode" {
		t.Errorf("label = %q", got)
	}
}

func TestHandlerAndGo(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := newRecorder()
	m := NewMonitor(Config{Slow: 30 * time.Millisecond, OnStall: rec.on})
	defer m.Close()
	release := make(chan struct{})
	h := m.Handler("http", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		w.Write([]byte("ok"))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for range 3 {
		resp, err := http.Get(srv.URL + "/fast")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	s := rec.next(t)
	if s.Unit != "http" || s.State != "chan receive" {
		t.Errorf("report %+v", s)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for s := rec.next(t); !s.Done; s = rec.next(t) {
	}
	done := make(chan struct{})
	m.Go(context.Background(), "bg", func(context.Context) { close(done) })
	<-done
	waitFor(t, func() bool {
		for _, st := range m.Snapshot() {
			if st.Name == "bg" && st.Count == 1 {
				return true
			}
		}
		return false
	})
	srv.CloseClientConnections()
	for _, st := range m.Snapshot() {
		if st.Name == "http" && (st.Count != 4 || st.Stalls != 1) {
			t.Errorf("http stats %+v", st)
		}
	}
}

func TestConfigureUpdatesResolvedUnits(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := NewMonitor(quiet())
	defer m.Close()
	u := m.NewUnit("a")
	m.NewUnit("b")
	m.Configure(Config{Slow: time.Second, SlowUnits: map[string]time.Duration{"b": time.Minute}, MaxUnits: 1})
	for _, st := range m.Snapshot() {
		want := map[string]time.Duration{"a": time.Second, "b": time.Minute}[st.Name]
		if st.Limit != want {
			t.Errorf("%s limit %v, want %v", st.Name, st.Limit, want)
		}
	}
	if got := time.Duration(m.minLimit.Load()); got != time.Second {
		t.Errorf("tick basis %v", got)
	}
	// Sizes do not change after creation: MaxUnits stays 512.
	if m.NewUnit("c").Name() != "c" || u.Name() != "a" {
		t.Error("MaxUnits changed by Configure")
	}
}

func TestPackageConfigure(t *testing.T) {
	Configure(Config{Slow: time.Hour, SlowUnits: map[string]time.Duration{"cfg-b": time.Minute}, OnStall: func(Stall) {}})
	stats := func() map[string]UnitStats {
		got := map[string]UnitStats{}
		for _, st := range Snapshot() {
			got[st.Name] = st
		}
		return got
	}
	before := stats()["cfg-b"].Count // the default monitor outlives -count runs
	NewUnit("cfg-a").Begin(context.Background()).End()
	Do(context.Background(), "cfg-b", func(context.Context) error { return nil })
	got := stats()
	if got["cfg-a"].Limit != time.Hour || got["cfg-b"].Limit != time.Minute || got["cfg-b"].Count != before+1 {
		t.Errorf("default monitor stats %+v", got)
	}
	if Default() != Default() || len(InFlight()) != 0 || len(Stalls()) != 0 {
		t.Error("default monitor state")
	}
	// The default monitor cannot be closed; its watchdog leaves by itself a
	// second after the last unit, before the next test checks for leaks.
	Configure(Config{OnStall: func(Stall) {}}) // back to a 5 ms tick
	waitFor(t, func() bool { return !Default().wdRunning.Load() })
}

func TestElapsedCoarse(t *testing.T) {
	word := func(start int64) uint64 { return activeBit | 3<<unitShift | uint64(start)&startMask }
	for _, c := range []struct {
		now, start, want int64
	}{
		{1000, 400, 600},
		{1000, 1000, 0},
		{1000, 1003, -3},                  // Begin read the clock after the scan did
		{1 << 40, (1 << 40) - 5, 5},       // across the 40-bit wrap
		{(1 << 40) + 2, (1 << 40) - 5, 7}, // idem
		{5, (1 << 40) - 5, 10},            // now already wrapped, start not
		{1<<39 - 1 + 100, 100, 1<<39 - 1}, // the longest representable
	} {
		if got := elapsedCoarse(c.now, word(c.start)); got != c.want {
			t.Errorf("elapsedCoarse(%d, start %d) = %d, want %d", c.now, c.start, got, c.want)
		}
	}
}

// TestUnitCapAtIndexLimit: with MaxUnits past what a slot word can index,
// the cap leaves room for the overflow unit, whose index must still fit the
// word's unit field (not spill into the reported bit).
func TestUnitCapAtIndexLimit(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg := quiet()
	cfg.MaxUnits = 1 << 20
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m := NewMonitor(cfg)
	defer m.Close()
	ctx := context.Background()
	const names = maxUnitsLimit + 5
	for i := range names {
		m.Begin(ctx, fmt.Sprintf("u%d", i)).End()
	}
	stats := m.Snapshot()
	if len(stats) != maxUnitsLimit-1 {
		t.Fatalf("%d units, want %d names and %s", len(stats), maxUnitsLimit-2, OverflowUnit)
	}
	var total, other uint64
	for _, st := range stats {
		total += st.Count
		if st.Name == OverflowUnit {
			other = st.Count
		}
	}
	if total != names || other != names-(maxUnitsLimit-2) {
		t.Errorf("counted %d runs (%d under %s), want %d (%d)", total, other, OverflowUnit, names, names-(maxUnitsLimit-2))
	}
	u := m.unit(OverflowUnit)
	if w := activeBit | u.idx<<unitShift; w&reportedBit != 0 || (w>>unitShift)&(1<<unitIdxBits-1) != u.idx {
		t.Errorf("overflow unit index %d does not fit the slot word", u.idx)
	}
}
