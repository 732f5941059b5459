package inspect

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

const sampleDumpSystem = `goroutine 1 [running]:
main.main()
	/tmp/x/main.go:54 +0x40d

goroutine 19 [runnable]:
main.spinArith(0x0?)
	/tmp/x/main.go:16
created by main.main in goroutine 1
	/tmp/x/main.go:42 +0x26f

goroutine 7 [chan receive, 3 minutes, locked to thread]:
runtime.gopark(0x0?, 0x0?, 0x0?, 0x0?, 0x0?)
	/usr/local/go/src/runtime/proc.go:460 +0xce
github.com/a/b.(*T[...]).Run(0xc000010000, {0x1, 0x2})
	/src/b/t.go:12 +0x1d
...additional frames elided...

goroutine 33 gp=0xc000102000 m=nil [select]:
example.com/x.F.func1()
	/src/x/f.go:9 +0x2 fp=0xc0000 sp=0xc0000 pc=0x4000
`

func TestParseGoroutines(t *testing.T) {
	gs := ParseGoroutines([]byte(sampleDumpSystem), 0)
	want := []Goroutine{
		{ID: 1, State: "running", Frames: []Frame{{Function: "main.main", File: "/tmp/x/main.go", Line: 54}}},
		{ID: 19, State: "runnable", Frames: []Frame{{Function: "main.spinArith", File: "/tmp/x/main.go", Line: 16}},
			CreatedBy: Frame{Function: "main.main", File: "/tmp/x/main.go", Line: 42}},
		{ID: 7, State: "chan receive", Waiting: 3 * time.Minute, Locked: true, Truncated: true, Frames: []Frame{
			{Function: "runtime.gopark", File: "/usr/local/go/src/runtime/proc.go", Line: 460},
			{Function: "github.com/a/b.(*T[...]).Run", File: "/src/b/t.go", Line: 12}}},
		{ID: 33, State: "select", Frames: []Frame{{Function: "example.com/x.F.func1", File: "/src/x/f.go", Line: 9}}},
	}
	if !reflect.DeepEqual(gs, want) {
		t.Fatalf("Parse:\n got %+v\nwant %+v", gs, want)
	}
}

func TestParseGoroutinesCapAndTruncation(t *testing.T) {
	gs := ParseGoroutines([]byte(sampleDumpSystem), 1)
	if len(gs[2].Frames) != 1 || !gs[2].Truncated {
		t.Errorf("maxFrames 1: %+v", gs[2])
	}
	cut := sampleDumpSystem[:strings.Index(sampleDumpSystem, "created by")+5]
	gs = ParseGoroutines([]byte(cut), 0)
	if len(gs) != 2 || !gs[1].Truncated || len(gs[1].Frames) != 1 {
		t.Errorf("cut dump: %+v", gs)
	}
}

func TestParseGoroutinesRealDump(t *testing.T) {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	gs := ParseGoroutines(buf[:n], 0)
	if len(gs) == 0 || gs[0].State != "running" {
		t.Fatalf("real dump parsed to %+v", gs)
	}
	user := UserFrames(gs[0].Frames)
	if len(user) == 0 || !strings.HasSuffix(user[0].Function, "inspect.TestParseGoroutinesRealDump") {
		t.Errorf("user frames of the running goroutine: %+v (all: %+v)", user, gs[0].Frames)
	}
	for _, f := range gs[0].Frames {
		if strings.HasPrefix(f.Function, "testing.") && !f.IsStd() {
			t.Errorf("%s should be standard library", f)
		}
	}
}

func TestFrameIsStd(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want bool
	}{
		{Frame{Function: "runtime.gopark"}, true},
		{Frame{Function: "net/http.(*conn).serve"}, true},
		{Frame{Function: "main.main"}, false},
		{Frame{Function: "command-line-arguments.F"}, false},
		{Frame{Function: "github.com/a/b.F"}, false},
		{Frame{Function: "github.com/a/b.F", File: goSrc + "vendor/x.go"}, goSrc != ""},
	} {
		if got := tc.f.IsStd(); got != tc.want {
			t.Errorf("%+v.IsStd() = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func FuzzParseGoroutines(f *testing.F) {
	f.Add([]byte(sampleDumpSystem))
	f.Add([]byte("goroutine 1 [running]:\nmain.f(\n\t:1\n"))
	f.Add([]byte("goroutine x [\ngoroutine 2 []:\n)\n\tfile:-1 +0x\ncreated by \n\t/a.go:1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		gs := ParseGoroutines(b, 4)
		for _, g := range gs {
			if len(g.Frames) > 4 {
				t.Fatalf("cap exceeded: %d frames", len(g.Frames))
			}
			for _, fr := range g.Frames {
				if fr.Line < 0 {
					t.Fatalf("negative line %+v", fr)
				}
			}
		}
	})
}

func TestFindGoroutinesKeepsLastFrameFile(t *testing.T) {
	dump := "goroutine 5 [running]:\nmain.a()\n\t/x/a.go:3 +0x1\nmain.b()\n\t/x/b.go:7 +0x2\n\ngoroutine 6 [sleep]:\nmain.c()\n\t/x/c.go:9"
	got := findGoroutines([]byte(dump), map[int64]bool{5: true, 6: true}, 10)
	if fr := got[5].frames; len(fr) != 2 || fr[1] != (Frame{Function: "main.b", File: "/x/b.go", Line: 7}) {
		t.Errorf("goroutine 5 frames = %+v, want main.b with /x/b.go:7 last", fr)
	}
	if fr := got[6].frames; len(fr) != 1 || fr[0].File != "/x/c.go" || fr[0].Line != 9 {
		t.Errorf("goroutine 6 frames = %+v, want main.c at /x/c.go:9", fr)
	}
}
