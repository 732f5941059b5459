package gstack

import (
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/hotloop/hotloop/inspect"
)

const sampleDump = `goroutine 1 [running]:
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

func TestParse(t *testing.T) {
	gs := Parse([]byte(sampleDump), 0)
	want := []Goroutine{
		{ID: 1, State: "running", Frames: []inspect.Frame{{Function: "main.main", File: "/tmp/x/main.go", Line: 54}}},
		{ID: 19, State: "runnable", Frames: []inspect.Frame{{Function: "main.spinArith", File: "/tmp/x/main.go", Line: 16}},
			CreatedBy: inspect.Frame{Function: "main.main", File: "/tmp/x/main.go", Line: 42}},
		{ID: 7, State: "chan receive", WaitMinutes: 3, Locked: true, Truncated: true, Frames: []inspect.Frame{
			{Function: "runtime.gopark", File: "/usr/local/go/src/runtime/proc.go", Line: 460},
			{Function: "github.com/a/b.(*T[...]).Run", File: "/src/b/t.go", Line: 12}}},
		{ID: 33, State: "select", Frames: []inspect.Frame{{Function: "example.com/x.F.func1", File: "/src/x/f.go", Line: 9}}},
	}
	if !reflect.DeepEqual(gs, want) {
		t.Fatalf("Parse:\n got %+v\nwant %+v", gs, want)
	}
}

func TestParseCapAndTruncation(t *testing.T) {
	gs := Parse([]byte(sampleDump), 1)
	if len(gs[2].Frames) != 1 || !gs[2].Truncated {
		t.Errorf("maxFrames 1: %+v", gs[2])
	}
	cut := sampleDump[:strings.Index(sampleDump, "created by")+5]
	gs = Parse([]byte(cut), 0)
	if len(gs) != 2 || !gs[1].Truncated || len(gs[1].Frames) != 1 {
		t.Errorf("cut dump: %+v", gs)
	}
}

func TestParseRealDump(t *testing.T) {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	gs := Parse(buf[:n], 0)
	if len(gs) == 0 || gs[0].State != "running" {
		t.Fatalf("real dump parsed to %+v", gs)
	}
	user := UserFrames(gs[0].Frames)
	if len(user) == 0 || !strings.HasSuffix(user[0].Function, "gstack.TestParseRealDump") {
		t.Errorf("user frames of the running goroutine: %+v (all: %+v)", user, gs[0].Frames)
	}
	for _, f := range gs[0].Frames {
		if strings.HasPrefix(f.Function, "testing.") && !IsStd(f) {
			t.Errorf("%s should be standard library", f)
		}
	}
}

func TestIsStd(t *testing.T) {
	for _, tc := range []struct {
		f    inspect.Frame
		want bool
	}{
		{inspect.Frame{Function: "runtime.gopark"}, true},
		{inspect.Frame{Function: "net/http.(*conn).serve"}, true},
		{inspect.Frame{Function: "main.main"}, false},
		{inspect.Frame{Function: "command-line-arguments.F"}, false},
		{inspect.Frame{Function: "github.com/a/b.F"}, false},
		{inspect.Frame{Function: "github.com/a/b.F", File: goSrc + "vendor/x.go"}, goSrc != ""},
	} {
		if got := IsStd(tc.f); got != tc.want {
			t.Errorf("IsStd(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sampleDump))
	f.Add([]byte("goroutine 1 [running]:\nmain.f(\n\t:1\n"))
	f.Add([]byte("goroutine x [\ngoroutine 2 []:\n)\n\tfile:-1 +0x\ncreated by \n\t/a.go:1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		gs := Parse(b, 4)
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
