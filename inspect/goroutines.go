package inspect

import (
	"bytes"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"time"
)

// Goroutine is one goroutine of a goroutine dump, the text that
// runtime.Stack(buf, true) and debug=2 goroutine profiles write.
type Goroutine struct {
	ID int64
	// State is the runtime's word for what the goroutine is doing: "running",
	// "runnable", "chan receive", "select", "IO wait", "sleep", "syscall", ...
	State     string
	Waiting   time.Duration // the "N minutes" the runtime prints for long waits
	Locked    bool          // "locked to thread"
	Frames    []Frame       // innermost first
	CreatedBy Frame         // the go statement's frame, when printed
	Truncated bool          // the dump was cut inside this goroutine, or frames were elided or capped
}

// ParseGoroutines parses a goroutine dump. maxFrames caps the frames kept per
// goroutine (0: no cap); a goroutine that loses frames to the cap is marked
// Truncated.
//
// The format is the runtime's, not a promise, so the parser is lenient: a dump
// cut off at a buffer cap parses up to the cut, lines it does not recognise are
// skipped, and both traceback styles (with and without GOTRACEBACK=system's
// "gp=... m=..." and "fp= sp= pc=") are understood. It is what inspect's
// watchdog and hotloop's starvation probe both read dumps with.
func ParseGoroutines(dump []byte, maxFrames int) []Goroutine {
	var gs []Goroutine
	var cur *Goroutine
	var pending *Frame // a function line waiting for its file line
	var pendingCreated bool
	flush := func() {
		// A function line without a file line still names a frame.
		if pending != nil && !pendingCreated {
			cur.addFrame(*pending, maxFrames)
		}
		pending = nil
	}
	for len(dump) > 0 {
		var line []byte
		if i := bytes.IndexByte(dump, '\n'); i >= 0 {
			line, dump = dump[:i], dump[i+1:]
		} else {
			// The last line has no newline: the dump was cut inside it.
			if cur != nil {
				cur.Truncated = true
			}
			break
		}
		line = bytes.TrimRight(line, "\r")
		if bytes.HasPrefix(line, []byte("goroutine ")) {
			if h, ok := parseHeader(string(line)); ok {
				if cur != nil {
					flush()
				}
				gs = append(gs, Goroutine{ID: h.id, State: h.state, Waiting: h.waiting, Locked: h.locked})
				cur = &gs[len(gs)-1]
				continue
			}
		}
		if cur == nil || len(line) == 0 {
			continue
		}
		if line[0] == '\t' || line[0] == ' ' {
			if pending == nil {
				continue
			}
			pending.File, pending.Line = parseFileLine(strings.TrimSpace(string(line)))
			if pendingCreated {
				cur.CreatedBy = *pending
			} else {
				cur.addFrame(*pending, maxFrames)
			}
			pending = nil
			continue
		}
		flush()
		s := string(line)
		if strings.HasPrefix(s, "...") { // "...additional frames elided..."
			cur.Truncated = true
			continue
		}
		if rest, ok := strings.CutPrefix(s, "created by "); ok {
			if i := strings.Index(rest, " in goroutine "); i >= 0 {
				rest = rest[:i]
			}
			pending, pendingCreated = &Frame{Function: rest}, true
			continue
		}
		if fn := funcName(s); fn != "" {
			pending, pendingCreated = &Frame{Function: fn}, false
		}
	}
	if cur != nil {
		flush()
	}
	return gs
}

func (g *Goroutine) addFrame(f Frame, maxFrames int) {
	if maxFrames > 0 && len(g.Frames) >= maxFrames {
		g.Truncated = true
		return
	}
	g.Frames = append(g.Frames, f)
}

// goSrc is this binary's GOROOT/src/ as the runtime records file names, found
// from where runtime.Gosched is defined ("" under -trimpath).
var goSrc = func() string {
	pc := reflect.ValueOf(runtime.Gosched).Pointer()
	fn := runtime.FuncForPC(pc)
	if fn == nil {
		return ""
	}
	file, _ := fn.FileLine(pc)
	if dir, ok := strings.CutSuffix(file, "runtime/proc.go"); ok && filepath.IsAbs(dir) {
		return dir
	}
	return ""
}()

// IsStd reports whether f is runtime or standard-library code rather than
// user code: its file is under GOROOT/src, or (for -trimpath binaries and
// frames without a file) the first element of its package path has no dot,
// except "main" and "command-line-arguments".
func (f Frame) IsStd() bool {
	if goSrc != "" && filepath.IsAbs(f.File) {
		return strings.HasPrefix(f.File, goSrc)
	}
	pkg := f.Function
	if i := strings.IndexByte(pkg, '/'); i >= 0 {
		return !strings.Contains(pkg[:i], ".")
	}
	if i := strings.IndexByte(pkg, '.'); i >= 0 {
		pkg = pkg[:i]
	}
	return pkg != "main" && pkg != "command-line-arguments"
}

// UserFrames returns the frames that are user code (see Frame.IsStd), in
// the same order.
func UserFrames(frames []Frame) []Frame {
	var out []Frame
	for _, f := range frames {
		if !f.IsStd() {
			out = append(out, f)
		}
	}
	return out
}
