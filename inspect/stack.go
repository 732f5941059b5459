package inspect

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// Parsing of goroutine dumps, the text runtime.Stack(buf, true) writes:
//
//	goroutine 18 [chan receive, 2 minutes]:
//	main.worker(0xc000012345?)
//		/src/main.go:12 +0x1d
//	created by main.main in goroutine 1
//		/src/main.go:30 +0x45
//
// The format is the runtime's, not a promise, so the parser is lenient: it
// takes what it recognises and skips the rest.

// goroutineHeader is the parsed first line of one goroutine's block.
type goroutineHeader struct {
	id      int64
	state   string
	waiting time.Duration
	locked  bool
}

// parseHeader parses "goroutine 18 [chan receive, 2 minutes, locked to
// thread]:". Later runtimes insert fields between the id and the bracket
// ("gp=0x... m=..."), which are skipped.
func parseHeader(line string) (goroutineHeader, bool) {
	var h goroutineHeader
	rest, ok := strings.CutPrefix(line, "goroutine ")
	if !ok {
		return h, false
	}
	sp := strings.IndexByte(rest, ' ')
	if sp <= 0 {
		return h, false
	}
	id, err := strconv.ParseInt(rest[:sp], 10, 64)
	if err != nil || id <= 0 {
		return h, false
	}
	open := strings.IndexByte(rest, '[')
	end := strings.LastIndex(rest, "]")
	if open < 0 || end < open {
		return h, false
	}
	h.id = id
	fields := strings.Split(rest[open+1:end], ",")
	h.state = strings.TrimSpace(fields[0])
	for _, f := range fields[1:] {
		f = strings.TrimSpace(f)
		if f == "locked to thread" {
			h.locked = true
		}
		if n, unit, ok := strings.Cut(f, " "); ok && strings.HasPrefix(unit, "minute") {
			if v, err := strconv.Atoi(n); err == nil && v > 0 && v < 1<<20 {
				h.waiting = time.Duration(v) * time.Minute
			}
		}
	}
	return h, h.state != ""
}

// goroutineBlock is one goroutine of a dump.
type goroutineBlock struct {
	header goroutineHeader
	text   string // the whole block, header included
	frames []Frame
}

// findGoroutines returns the blocks of the goroutines in want, with at most
// maxFrames frames each (frames of this package's wrappers excluded).
// Goroutines not in the dump are absent from the result.
func findGoroutines(dump []byte, want map[int64]bool, maxFrames int) map[int64]goroutineBlock {
	out := make(map[int64]goroutineBlock, len(want))
	for len(dump) > 0 && len(out) < len(want) {
		// A block ends at a blank line.
		var block []byte
		if i := bytes.Index(dump, []byte("\n\n")); i >= 0 {
			block, dump = dump[:i], dump[i+2:]
		} else {
			block, dump = dump, nil
		}
		nl := bytes.IndexByte(block, '\n')
		first := block
		if nl >= 0 {
			first = block[:nl]
		}
		h, ok := parseHeader(string(first))
		if !ok || !want[h.id] {
			continue
		}
		text := string(block)
		if len(text) > maxStackText {
			text = text[:maxStackText]
		}
		var frames []Frame
		// The block lost its newline to the split; without it the parser
		// would take the last line for one cut off by the buffer cap.
		if gs := ParseGoroutines(append(block[:len(block):len(block)], '\n'), 0); len(gs) == 1 {
			for _, f := range gs[0].Frames {
				if len(frames) >= maxFrames {
					break
				}
				if keepFrame(f) {
					frames = append(frames, f)
				}
			}
		}
		out[h.id] = goroutineBlock{header: h, text: text, frames: frames}
	}
	return out
}

const maxStackText = 16 << 10

// funcName extracts the function from a function line, or "" for lines
// that are not frames ("...additional frames elided...", ancestry notes).
func funcName(line string) string {
	// "created by pkg.F in goroutine 1" names the creation site, which is
	// not on the stack: it stays in Stall.Stack, not in Frames.
	if strings.HasPrefix(line, "created by ") || strings.HasPrefix(line, "...") || strings.HasPrefix(line, "[") || strings.HasPrefix(line, "goroutine ") {
		return ""
	}
	// The argument list starts at the last '(' that follows the last '.'
	// of the name; receivers like (*T) come before it.
	if strings.HasSuffix(line, ")") {
		depth := 0
		for i := len(line) - 1; i >= 0; i-- {
			switch line[i] {
			case ')':
				depth++
			case '(':
				depth--
				if depth == 0 {
					name := line[:i]
					if name == "" || strings.ContainsAny(name, " \t") {
						return ""
					}
					return name
				}
			}
		}
		return ""
	}
	if strings.ContainsAny(line, " \t") {
		return ""
	}
	return line
}

// parseFileLine parses "/src/main.go:12 +0x1d" into its file and line.
func parseFileLine(s string) (string, int) {
	if i := strings.LastIndex(s, " +0x"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		if n, err := strconv.Atoi(s[i+1:]); err == nil && n >= 0 {
			return s[:i], n
		}
	}
	return s, 0
}

const selfPkg = "github.com/hotloop/hotloop/inspect."

// keepFrame drops inspect's own wrapper frames (Do, Go, Handler), which
// would otherwise sit under every user frame; test files of this package
// are user code.
func keepFrame(f Frame) bool {
	if !strings.HasPrefix(f.Function, selfPkg) {
		return true
	}
	return strings.HasSuffix(f.File, "_test.go")
}
