package inspect

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		line    string
		ok      bool
		id      int64
		state   string
		waiting time.Duration
	}{
		{"goroutine 1 [running]:", true, 1, "running", 0},
		{"goroutine 18 [chan receive, 2 minutes]:", true, 18, "chan receive", 2 * time.Minute},
		{"goroutine 7 [select, 1 minute, locked to thread]:", true, 7, "select", time.Minute},
		{"goroutine 9 [IO wait]:", true, 9, "IO wait", 0},
		{"goroutine 33 [sync.Mutex.Lock, 61 minutes]:", true, 33, "sync.Mutex.Lock", 61 * time.Minute},
		{"goroutine 6 gp=0xc000080d20 m=nil [runnable]:", true, 6, "runnable", 0},
		{"goroutine 18 gp=0xc00007a960 m=3 mp=0xc000047008 [running]:", true, 18, "running", 0},
		{"goroutine 5 [chan receive (nil chan)]:", true, 5, "chan receive (nil chan)", 0},
		{"goroutine 12 [syscall, locked to thread]:", true, 12, "syscall", 0},
		{"goroutine x [running]:", false, 0, "", 0},
		{"goroutine 0 [running]:", false, 0, "", 0},
		{"goroutine 4 running", false, 0, "", 0},
		{"goroutine 4 []:", false, 0, "", 0},
		{"main.main()", false, 0, "", 0},
		{"", false, 0, "", 0},
	}
	for _, tc := range tests {
		h, ok := parseHeader(tc.line)
		if ok != tc.ok || (ok && (h.id != tc.id || h.state != tc.state || h.waiting != tc.waiting)) {
			t.Errorf("parseHeader(%q) = %+v, %v; want id %d state %q waiting %v ok %v", tc.line, h, ok, tc.id, tc.state, tc.waiting, tc.ok)
		}
	}
}

const sampleDump = `goroutine 19 [running]:
main.dump()
	/src/main.go:8 +0x9c
created by main.main in goroutine 1
	/src/main.go:20 +0x25

goroutine 20 [chan receive, 3 minutes]:
main.(*worker).run(0xc000010000, {0x58588f?, 0x0?})
	/src/worker.go:42 +0x4e5
github.com/hotloop/hotloop/inspect.(*unitState).do(0x1, {0x2, 0x3}, 0x4)
	/work/main/inspect/unit.go:218 +0x17c
github.com/hotloop/hotloop/inspect.Do(...)
	/work/main/inspect/monitor.go:300
main.serve.func1()
	/src/main.go:30 +0x1d
created by main.serve in goroutine 1
	/src/main.go:29 +0x45

goroutine 21 [runnable]:
sync/atomic.(*Bool).Load(...)
	/usr/local/go/src/sync/atomic/type.go:19
main.busy(...)
	/src/busy.go:7
main.spin()
...additional frames elided...

goroutine 22 [running]:
	goroutine running on other thread; stack unavailable
`

func TestFindGoroutines(t *testing.T) {
	got := findGoroutines([]byte(sampleDump), map[int64]bool{20: true, 21: true, 22: true, 99: true}, 10)
	if len(got) != 3 {
		t.Fatalf("found %d goroutines", len(got))
	}
	want20 := []Frame{
		{"main.(*worker).run", "/src/worker.go", 42},
		{"main.serve.func1", "/src/main.go", 30},
	}
	if g := got[20]; g.header.state != "chan receive" || g.header.waiting != 3*time.Minute || fmt.Sprint(g.frames) != fmt.Sprint(want20) {
		t.Errorf("goroutine 20: %+v", g)
	}
	if !strings.HasPrefix(got[20].text, "goroutine 20 [chan receive, 3 minutes]:\nmain.(*worker).run") {
		t.Errorf("text %q", got[20].text)
	}
	want21 := []Frame{
		{"sync/atomic.(*Bool).Load", "/usr/local/go/src/sync/atomic/type.go", 19},
		{"main.busy", "/src/busy.go", 7},
		{"main.spin", "", 0},
	}
	if g := got[21]; fmt.Sprint(g.frames) != fmt.Sprint(want21) {
		t.Errorf("goroutine 21 frames %v", g.frames)
	}
	if g := got[22]; g.header.state != "running" || len(g.frames) != 0 {
		t.Errorf("goroutine 22: %+v", g)
	}
	// Depth cap.
	if g := findGoroutines([]byte(sampleDump), map[int64]bool{20: true}, 1)[20]; len(g.frames) != 1 {
		t.Errorf("frames not capped: %v", g.frames)
	}
}

func TestFindGoroutinesRealDump(t *testing.T) {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	me := slowGoid()
	got := findGoroutines(buf[:n], map[int64]bool{me: true}, 32)
	g, ok := got[me]
	if !ok || g.header.state != "running" {
		t.Fatalf("own goroutine %d not found as running: %+v", me, g)
	}
	if len(g.frames) == 0 || !strings.Contains(g.frames[0].Function, "TestFindGoroutinesRealDump") || !strings.HasSuffix(g.frames[0].File, "stack_test.go") || g.frames[0].Line == 0 {
		t.Errorf("frames %v", g.frames)
	}
}

func TestParseFileLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		file string
		line int
	}{
		{"/src/main.go:12 +0x1d", "/src/main.go", 12},
		{"/src/main.go:12", "/src/main.go", 12},
		{`C:/src/main.go:7 +0x2`, "C:/src/main.go", 7},
		{"/src/main.go", "/src/main.go", 0},
		{"?:0", "?", 0},
	} {
		if f, l := parseFileLine(c.in); f != c.file || l != c.line {
			t.Errorf("parseFileLine(%q) = %q, %d", c.in, f, l)
		}
	}
}

// FuzzFindGoroutines feeds arbitrary dumps to the parser: it must not panic,
// must respect the frame cap, and must only return goroutines asked for.
func FuzzFindGoroutines(f *testing.F) {
	f.Add([]byte(sampleDump), int64(20), 4)
	f.Add([]byte("goroutine 1 [running]:\nmain.main()\n\t/x.go:1 +0x1\n"), int64(1), 1)
	f.Add([]byte("goroutine 1 [a, b, c]:\n(\n\t:\n)\n\n\n"), int64(1), 3)
	f.Add([]byte("goroutine 2 gp=0x1 m=nil [select]:\nmain.f(...)\n\t/x.go:3\ncreated by main.g in goroutine 1\n\t/x.go:9 +0x2\n"), int64(2), 8)
	f.Fuzz(func(t *testing.T, dump []byte, id int64, max int) {
		if max < 0 || max > 64 {
			return
		}
		got := findGoroutines(dump, map[int64]bool{id: true}, max)
		for gid, g := range got {
			if gid != id || g.header.id != id || g.header.state == "" {
				t.Fatalf("returned %d (%+v) for %d", gid, g.header, id)
			}
			if len(g.frames) > max {
				t.Fatalf("%d frames > %d", len(g.frames), max)
			}
			if len(g.text) > maxStackText {
				t.Fatalf("text %d bytes", len(g.text))
			}
		}
	})
}

func TestStallString(t *testing.T) {
	s := Stall{
		Unit: "decode", Goroutine: 18, Elapsed: 25 * time.Millisecond, Limit: 10 * time.Millisecond,
		State:  "chan receive",
		Frames: []Frame{{"runtime.gopark", "/go/src/runtime/proc.go", 1}, {"main.f", "/src/main.go", 12}},
	}
	if got, want := s.String(), `unit "decode" stuck 25ms (limit 10ms), goroutine 18 [chan receive] at main.f /src/main.go:12`; got != want {
		t.Errorf("String() = %s\nwant       %s", got, want)
	}
	s.Done, s.State, s.Frames = true, "", nil
	if got, want := s.String(), `unit "decode" took 25ms (limit 10ms), goroutine 18 [state unknown]`; got != want {
		t.Errorf("String() = %s\nwant       %s", got, want)
	}
}
