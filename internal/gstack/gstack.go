// Package gstack parses the text goroutine dump that runtime.Stack(buf, true)
// and debug=2 goroutine profiles produce. It is the parser the probes use to
// find which goroutines are running when the scheduler starves.
//
// The parser is lenient: a dump cut off at a buffer cap parses up to the last
// complete frame, and lines it does not understand are skipped, because the
// format is documented only by the runtime's source and changes a little
// between releases.
package gstack

import (
	"bytes"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"

	"github.com/hotloop/hotloop/inspect"
)

// Goroutine is one goroutine of a dump.
type Goroutine struct {
	ID int64
	// State is the runtime's word for what the goroutine is doing: "running",
	// "runnable", "chan receive", "select", "IO wait", "sleep", "syscall", ...
	State string
	// Wait is the "N minutes" the runtime prints for long waits, 0 otherwise.
	WaitMinutes int
	Locked      bool            // "locked to thread"
	Frames      []inspect.Frame // leaf first
	CreatedBy   inspect.Frame   // the go statement's frame, if printed
	Truncated   bool            // the dump was cut inside this goroutine, or frames were elided
}

// Parse parses a goroutine dump. maxFrames caps the frames kept per goroutine
// (0 means no cap); goroutines past the cap are marked Truncated.
func Parse(dump []byte, maxFrames int) []Goroutine {
	var gs []Goroutine
	var cur *Goroutine
	var pending *inspect.Frame // a function line waiting for its file line
	var pendingCreated bool
	for len(dump) > 0 {
		var line []byte
		if i := bytes.IndexByte(dump, '\n'); i >= 0 {
			line, dump = dump[:i], dump[i+1:]
		} else {
			line, dump = dump, nil
			if cur != nil {
				cur.Truncated = true
			}
		}
		line = bytes.TrimRight(line, "\r")
		if bytes.HasPrefix(line, []byte("goroutine ")) {
			if g, ok := parseHeader(string(line)); ok {
				gs = append(gs, g)
				cur = &gs[len(gs)-1]
				pending = nil
				continue
			}
		}
		if cur == nil || len(line) == 0 {
			continue
		}
		if line[0] == '\t' {
			if pending == nil {
				continue
			}
			file, ln, ok := parseFileLine(string(line[1:]))
			if !ok {
				pending = nil
				continue
			}
			pending.File, pending.Line = file, ln
			if pendingCreated {
				cur.CreatedBy = *pending
			} else if maxFrames <= 0 || len(cur.Frames) < maxFrames {
				cur.Frames = append(cur.Frames, *pending)
			} else {
				cur.Truncated = true
			}
			pending = nil
			continue
		}
		s := string(line)
		if strings.HasPrefix(s, "...") { // "...additional frames elided..."
			cur.Truncated = true
			continue
		}
		if rest, ok := strings.CutPrefix(s, "created by "); ok {
			if i := strings.Index(rest, " in goroutine "); i >= 0 {
				rest = rest[:i]
			}
			pending, pendingCreated = &inspect.Frame{Function: rest}, true
			continue
		}
		if fn, ok := funcName(s); ok {
			pending, pendingCreated = &inspect.Frame{Function: fn}, false
		}
	}
	return gs
}

// parseHeader parses "goroutine 19 [chan receive, 3 minutes, locked to thread]:"
// and the GOTRACEBACK=system form "goroutine 19 gp=0x... m=nil [runnable]:".
func parseHeader(s string) (Goroutine, bool) {
	var g Goroutine
	rest := strings.TrimPrefix(s, "goroutine ")
	sp := strings.IndexByte(rest, ' ')
	if sp <= 0 {
		return g, false
	}
	id, err := strconv.ParseInt(rest[:sp], 10, 64)
	if err != nil || id < 0 {
		return g, false
	}
	g.ID = id
	open := strings.IndexByte(rest, '[')
	end := strings.LastIndex(rest, "]:")
	if open < 0 || end < open {
		return g, false
	}
	parts := strings.Split(rest[open+1:end], ", ")
	g.State = parts[0]
	for _, p := range parts[1:] {
		switch {
		case p == "locked to thread":
			g.Locked = true
		case strings.HasSuffix(p, " minutes"):
			if n, err := strconv.Atoi(strings.TrimSuffix(p, " minutes")); err == nil {
				g.WaitMinutes = n
			}
		}
	}
	return g, true
}

// funcName takes "main.(*T).M(0x1, {0x2, 0x3})" or "main.F[...](...)" to the
// function name: everything before the final parenthesised argument list.
func funcName(s string) (string, bool) {
	if !strings.HasSuffix(s, ")") {
		return "", false
	}
	depth := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				if i == 0 {
					return "", false
				}
				return s[:i], true
			}
		}
	}
	return "", false
}

// parseFileLine parses "/src/x.go:42 +0x1d" (the offset is optional).
func parseFileLine(s string) (string, int, bool) {
	if i := strings.LastIndex(s, " +0x"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, " fp="); i >= 0 { // GOTRACEBACK=system
		s = s[:i]
	}
	c := strings.LastIndexByte(s, ':')
	if c <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[c+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return s[:c], n, true
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

// IsStd reports whether f is runtime or standard-library code rather than user
// code: its file is under GOROOT/src, or (for -trimpath binaries and frames
// without a file) the first element of its package path has no dot, except
// "main" and "command-line-arguments".
func IsStd(f inspect.Frame) bool {
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

// UserFrames returns the frames of g that are user code (see IsStd),
// leaf first.
func UserFrames(frames []inspect.Frame) []inspect.Frame {
	var out []inspect.Frame
	for _, f := range frames {
		if !IsStd(f) {
			out = append(out, f)
		}
	}
	return out
}
