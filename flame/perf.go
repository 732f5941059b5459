package flame

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// PerfOptions mirror stackcollapse-perf.pl's flags. The zero value collapses
// as the script does without flags: the root frame is the process name.
type PerfOptions struct {
	PID    bool // --pid: root frame "comm-PID"
	TID    bool // --tid: root frame "comm-PID/TID" (takes precedence over PID)
	Kernel bool // --kernel: suffix kernel frames with "_[k]"
	JIT    bool // --jit: suffix JIT frames (perf-PID.map, jitdump) with "_[j]"
	All    bool // --all: Kernel and JIT
	Addrs  bool // --addrs: "[module <addr>]" instead of "[module]" for unknown symbols

	// EventFilter keeps only samples of this event ("cycles", "cpu-clock",
	// ...). Empty means the first event seen, as the script does: merging
	// cycles with instructions would give a misleading picture.
	EventFilter string
}

// MaxPerfLine bounds one line of perf script text, so that input without
// newlines cannot exhaust memory. Real lines are well under 64 KiB.
const MaxPerfLine = 16 << 20

// MaxPerfStack bounds the folded stack of one sample (all its frames joined):
// a record without its closing blank line cannot grow without limit. 64 MiB is
// over a million frames.
const MaxPerfStack = 64 << 20

const perfFormat = "perf script"

// ReadPerf collapses `perf script` text into a Profile whose unit is
// "samples", with stackcollapse-perf.pl's semantics (FlameGraph commit
// 41fee1f): the same event and stack line grammar, the same tidying of
// function names (argument lists cut, ';' turned into ':', quotes removed,
// Java's "L" class prefix stripped in java processes), the same "[module]"
// names for unknown symbols and the same annotations. Each sample counts its
// period when perf printed one, else 1. A record counts only once its closing
// blank line is read, as in the script: perf ends every record with one, so a
// record cut off at the end of the input is partial (its root frames missing)
// and is dropped.
//
// Beyond the script, following inferno: a record whose single frame is on the
// event line (perf script of a profile recorded without -g) is counted; a
// function's argument list is cut at its first top-level '(' only, so
// "std::function<int (int)>::operator()" keeps its template; and frames of
// jitdump modules (".../jitted-PID-N.so") are JIT frames.
//
// ReadPerf streams: memory is one line, one record and the profile, not the
// input. A line it cannot parse is an error (*ParseError with its line
// number), where the script only warns. Input without any sample is an
// error too.
func ReadPerf(r io.Reader, opt PerfOptions) (*Profile, error) {
	c := newPerfCollapser(r, opt)
	if err := c.run(); err != nil {
		return nil, err
	}
	if c.p.Len() == 0 {
		msg := "no samples"
		switch {
		case c.line == 0:
			msg = "empty input"
		case c.filter != "" && c.filtered > 0:
			msg = fmt.Sprintf("no samples of event %q", c.filter)
		}
		return nil, &ParseError{Format: perfFormat, Msg: msg}
	}
	return c.p, nil
}

// span is a frame in perfCollapser.arena.
type span struct{ start, end int32 }

type perfCollapser struct {
	r        *bufio.Reader
	opt      PerfOptions
	p        *Profile
	line     int
	long     []byte
	filter   string // the event filter in force ("" until the first event)
	filtered int    // events dropped by the filter

	// The record being read, as the script's $pname, @stack and $m_period.
	inRecord bool
	pname    []byte
	period   float64
	arena    []byte // frame names of the record
	frames   []span // in line order (leaf first), in order within a line
	groups   []int  // index in frames where each stack line's frames start
	stack    []byte // the folded stack being built
}

func newPerfCollapser(r io.Reader, opt PerfOptions) *perfCollapser {
	if opt.All {
		opt.Kernel, opt.JIT = true, true
	}
	return &perfCollapser{
		r:      bufio.NewReaderSize(r, 256<<10),
		opt:    opt,
		p:      NewProfile("samples"),
		filter: opt.EventFilter,
	}
}

func (c *perfCollapser) errorf(format string, args ...any) error {
	return &ParseError{Format: perfFormat, Line: c.line, Msg: fmt.Sprintf(format, args...)}
}

// readLine returns the next line without its "\n" (and "\r"), or io.EOF.
func (c *perfCollapser) readLine() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.long = append(c.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = c.r.ReadSlice('\n')
			if len(c.long)+len(line) > MaxPerfLine {
				c.line++
				return nil, c.errorf("line longer than %d bytes", MaxPerfLine)
			}
			c.long = append(c.long, line...)
		}
		line = c.long
	}
	if err != nil && (err != io.EOF || len(line) == 0) {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, &ParseError{Format: perfFormat, Line: c.line + 1, Msg: "reading input: " + err.Error()}
	}
	c.line++
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	// CRLF input: the script would see no blank lines at all.
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func (c *perfCollapser) run() error {
	for {
		line, err := c.readLine()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(line) > 0 && line[0] == '#' {
			continue
		}
		if len(line) == 0 {
			c.endRecord()
			continue
		}
		if err := c.handle(line); err != nil {
			return err
		}
	}
}

// handle classifies a non-empty line in the script's order: event line, then
// stack line, else unrecognized.
func (c *perfCollapser) handle(line []byte) error {
	if comm, pid, tid, end, ok := matchEvent(line); ok {
		return c.onEvent(line, comm, pid, tid, end)
	}
	if !c.inRecord && isSpace(line[0]) {
		// perf pads the command to 16 columns when it prints no callchain:
		// "            false 39654 19115.489713:   1 cycles:u:  ffff... sym (dso)".
		// The script drops these; inferno reads them as one-frame samples.
		t := bytes.TrimLeft(line, " \t\v\f\r")
		if comm, pid, tid, end, ok := matchEvent(t); ok {
			if _, _, frame := splitSingleLine(t[end:]); frame != nil {
				return c.onEvent(t, comm, pid, tid, end)
			}
		}
	}
	if pc, rawfunc, mod, ok := matchStackLine(line); ok {
		if c.inRecord {
			return c.onFrame(pc, rawfunc, mod)
		}
		return nil // a frame of a filtered or headless record, as in the script
	}
	return c.errorf("unrecognized line %s (want an event line \"comm pid time: period event:\" or a frame \"addr symbol (module)\")", quoteField(line))
}

func (c *perfCollapser) onEvent(line, comm, pid, tid []byte, end int) error {
	// The script's defaults: "java 25607 ..." has a TID and no PID.
	if len(tid) == 0 || string(tid) == "0" {
		tid, pid = pid, []byte("?")
	}
	period, event, tailOK := matchEventTail(line)
	var single []byte // the frame on the event line, if any
	if !tailOK {
		var ev, per []byte
		if ev, per, single = splitSingleLine(line[end:]); single != nil {
			event, period, tailOK = ev, per, true
		}
	}
	if tailOK {
		switch {
		case c.filter == "":
			c.filter = string(event)
		case string(event) != c.filter:
			// As the script: the event is skipped but the record state
			// ($pname, @stack) is left as it was.
			c.filtered++
			return nil
		}
	}
	c.period = 1
	if len(period) > 0 && string(period) != "0" {
		v, err := strconv.ParseFloat(string(period), 64)
		if err != nil {
			return c.errorf("invalid period %s", quoteField(period))
		}
		c.period = v
	}
	c.pname = c.pname[:0]
	for _, b := range comm {
		if b == ' ' {
			b = '_'
		}
		c.pname = append(c.pname, b)
	}
	switch {
	case c.opt.TID:
		c.pname = append(append(append(append(c.pname, '-'), pid...), '/'), tid...)
	case c.opt.PID:
		c.pname = append(append(c.pname, '-'), pid...)
	}
	c.inRecord = true
	if single != nil {
		pc, rawfunc, mod, _ := matchStackLine(single)
		if err := c.onFrame(pc, rawfunc, mod); err != nil {
			return err
		}
		c.endRecord()
	}
	return nil
}

// endRecord is the script's blank line: count the record, if one is open.
func (c *perfCollapser) endRecord() {
	if !c.inRecord {
		c.frames, c.groups, c.arena = c.frames[:0], c.groups[:0], c.arena[:0]
		return
	}
	s := append(c.stack[:0], c.pname...)
	// Stack lines come leaf first; each line's frames are in caller order.
	for g := len(c.groups) - 1; g >= 0; g-- {
		end := len(c.frames)
		if g+1 < len(c.groups) {
			end = c.groups[g+1]
		}
		for _, f := range c.frames[c.groups[g]:end] {
			s = append(s, ';')
			s = append(s, c.arena[f.start:f.end]...)
		}
	}
	c.stack = s
	c.p.addBytes(s, c.period)
	c.inRecord = false
	c.frames, c.groups, c.arena = c.frames[:0], c.groups[:0], c.arena[:0]
}

// onFrame appends the frames of one stack line (several when perf shows
// inlined Java frames as "a->b->c").
func (c *perfCollapser) onFrame(pc, rawfunc, mod []byte) error {
	rawfunc = stripOffset(rawfunc)
	if len(rawfunc) > 0 && rawfunc[0] == '(' {
		return nil // a process name, as the script skips
	}
	if len(c.arena)+len(rawfunc)+len(mod)+len(pc)+32 > MaxPerfStack {
		return c.errorf("stack of one sample longer than %d bytes (a record without its closing blank line?)", MaxPerfStack)
	}
	c.groups = append(c.groups, len(c.frames))
	java := bytes.HasPrefix(c.pname, []byte("java"))
	parts := splitArrow(rawfunc)
	for i, f := range parts {
		start := len(c.arena)
		c.arena = c.appendFunc(c.arena, f, pc, mod, java)
		name := c.arena[start:]
		switch {
		case i > 0:
			if !bytes.Contains(name, []byte("_[i]")) {
				c.arena = append(c.arena, "_[i]"...)
			}
		case c.opt.Kernel && isKernelModule(mod):
			c.arena = append(c.arena, "_[k]"...)
		case c.opt.JIT && isJITModule(mod):
			if !bytes.Contains(name, []byte("_[j]")) {
				c.arena = append(c.arena, "_[j]"...)
			}
		}
		c.frames = append(c.frames, span{int32(start), int32(len(c.arena))})
	}
	return nil
}

// appendFunc appends the tidied name of one function, as the script's
// [unknown] fallback, $tidy_generic and $tidy_java.
func (c *perfCollapser) appendFunc(dst, f, pc, mod []byte, java bool) []byte {
	if string(f) == "[unknown]" {
		var name []byte
		if string(mod) != "[unknown]" {
			name = mod
			if i := bytes.LastIndexByte(name, '/'); i >= 0 {
				name = name[i+1:]
			}
		} else {
			name = []byte("unknown")
		}
		buf := make([]byte, 0, len(name)+len(pc)+5)
		buf = append(append(buf, '['), name...)
		if c.opt.Addrs {
			buf = append(append(append(buf, " <"...), pc...), '>')
		}
		f = append(buf, ']')
	}
	f = cutArgs(f)
	start := len(dst)
	for _, b := range f {
		switch b {
		case ';':
			dst = append(dst, ':')
		case '"', '\'':
		default:
			dst = append(dst, b)
		}
	}
	if java && len(dst) > start && dst[start] == 'L' && bytes.IndexByte(dst[start:], '/') >= 0 {
		copy(dst[start:], dst[start+1:])
		dst = dst[:len(dst)-1]
	}
	return dst
}

// cutArgs removes an argument list: from the first '(' outside template
// brackets that does not open "(anonymous namespace)". Go method names such as
// "net/http.(*Client).Do" are left alone, as the script does. The script cuts
// at the first '(' even inside "<...>"; inferno (and this) keep templates
// such as "std::function<int (int)>::operator" whole. ';' has already been
// replaced by ':' in the script at this point; it only matters for the Go
// check, where ':' and ';' behave the same.
func cutArgs(f []byte) []byte {
	if isGoMethod(f) {
		return f
	}
	depth := 0
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '<', '{', '[':
			depth++
		case '>', '}', ']', ')':
			depth--
		case '(':
			if depth <= 0 && !bytes.HasPrefix(f[i:], []byte("(anonymous namespace)")) {
				return f[:i]
			}
			depth++
		case 'o':
			// "operator<<", "operator->": not brackets.
			if bytes.HasPrefix(f[i:], []byte("operator")) && (i == 0 || f[i-1] == ':' || f[i-1] == ' ') {
				i += len("operator")
				for i < len(f) && bytes.IndexByte([]byte("<>=-!+*/%^&|~,"), f[i]) >= 0 {
					i++
				}
				i--
			}
		}
	}
	return f
}

// isGoMethod is the script's m/\.\(.*\)\./: a ".(" before a later ").".
func isGoMethod(f []byte) bool {
	i := bytes.Index(f, []byte(".("))
	if i < 0 {
		return false
	}
	j := bytes.LastIndex(f, []byte(")."))
	return j >= i+2
}

// stripOffset is the script's s/\+0x[\da-f]+$//.
func stripOffset(f []byte) []byte {
	i := len(f)
	for i > 0 && (f[i-1] >= '0' && f[i-1] <= '9' || f[i-1] >= 'a' && f[i-1] <= 'f') {
		i--
	}
	if i < len(f) && i >= 3 && string(f[i-3:i]) == "+0x" {
		return f[:i-3]
	}
	return f
}

// splitArrow is Perl's split /->/: trailing empty fields dropped.
func splitArrow(f []byte) [][]byte {
	var parts [][]byte
	if bytes.Contains(f, []byte("->")) {
		parts = bytes.Split(f, []byte("->"))
	} else {
		return [][]byte{f}
	}
	for len(parts) > 0 && len(parts[len(parts)-1]) == 0 {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// isKernelModule is the script's m/(^\[|vmlinux$)/ && !~ /unknown/, widened as
// inferno has it to kernel modules ("x.ko") and versioned images
// ("/usr/lib/debug/boot/vmlinux-5.4.14-cloudflare").
func isKernelModule(mod []byte) bool {
	if bytes.Contains(mod, []byte("unknown")) {
		return false
	}
	if len(mod) > 0 && mod[0] == '[' || bytes.HasSuffix(mod, []byte(".ko")) {
		return true
	}
	i := bytes.LastIndex(mod, []byte("vmlinux"))
	if i < 0 {
		return false
	}
	for _, b := range mod[i:] {
		if !isWordByte(b) && b != '-' && b != '.' {
			return false
		}
	}
	return true
}

// isJITModule is the script's m:/tmp/perf-\d+\.map:, plus jitdump's
// ".../jitted-PID-N.so" modules as inferno has them.
func isJITModule(mod []byte) bool {
	if bytes.Contains(mod, []byte("/jitted-")) && bytes.HasSuffix(mod, []byte(".so")) {
		return true
	}
	const pre = "/tmp/perf-"
	for rest := mod; ; {
		i := bytes.Index(rest, []byte(pre))
		if i < 0 {
			return false
		}
		rest = rest[i+len(pre):]
		d := 0
		for d < len(rest) && isDigit(rest[d]) {
			d++
		}
		if d > 0 && bytes.HasPrefix(rest[d:], []byte(".map")) {
			return true
		}
	}
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
}

func isHexDigit(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// matchEvent is the script's event line, /^(\S.+?)\s+(\d+)\/*(\d+)*\s+/:
// the command (which may contain spaces), the PID and the TID (empty when
// perf printed only one number), and the end of the match.
func matchEvent(l []byte) (comm, pid, tid []byte, end int, ok bool) {
	if len(l) < 2 || isSpace(l[0]) {
		return
	}
	for e := 2; e < len(l); e++ {
		if !isSpace(l[e]) {
			continue
		}
		j := e
		for j < len(l) && isSpace(l[j]) {
			j++
		}
		d := j
		for d < len(l) && isDigit(l[d]) {
			d++
		}
		if d > j {
			k := d
			for k < len(l) && l[k] == '/' {
				k++
			}
			m := k
			for m < len(l) && isDigit(l[m]) {
				m++
			}
			if m < len(l) && isSpace(l[m]) {
				n := m
				for n < len(l) && isSpace(l[n]) {
					n++
				}
				return l[:e], l[j:d], l[k:m], n, true
			}
		}
		// Every comm ending inside this run of spaces fails the same way.
		e = j - 1
	}
	return
}

// matchEventTail is the script's /:\s*(\d+)*\s+(\S+):\s*$/: the period (empty
// if none) and the event name of an event line.
func matchEventTail(l []byte) (period, event []byte, ok bool) {
	end := len(l)
	for end > 0 && isSpace(l[end-1]) {
		end--
	}
	ts := end
	for ts > 0 && !isSpace(l[ts-1]) {
		ts--
	}
	if end-ts < 2 || l[end-1] != ':' {
		return
	}
	ws := ts
	for ws > 0 && isSpace(l[ws-1]) {
		ws--
	}
	if ws == ts || ws == 0 {
		return
	}
	event = l[ts : end-1]
	if l[ws-1] == ':' {
		return nil, event, true
	}
	d := ws
	for d > 0 && isDigit(l[d-1]) {
		d--
	}
	if d == ws {
		return
	}
	k := d
	for k > 0 && isSpace(l[k-1]) {
		k--
	}
	if k > 0 && l[k-1] == ':' {
		return l[d:ws], event, true
	}
	return
}

// splitSingleLine reads an event line that carries its only frame, as
// inferno does: after "time:" comes "period event:", then the frame. rest is
// the line after the PID/TID. The frame must start with a hex address, so a
// tracepoint's payload is not taken for one.
func splitSingleLine(rest []byte) (event, period, frame []byte) {
	i := bytes.IndexByte(rest, ':')
	if i < 0 {
		return
	}
	rest = rest[i+1:]
	j := bytes.IndexByte(rest, ':')
	if j < 0 {
		return
	}
	mid := bytes.TrimRight(rest[:j], " \t")
	k := bytes.LastIndexAny(mid, " \t")
	event = mid[k+1:]
	if w := bytes.TrimRight(mid[:k+1], " \t"); len(w) > 0 {
		p := w[bytes.LastIndexAny(w, " \t")+1:]
		if len(p) > 0 && allDigits(p) {
			period = p
		}
	}
	frame, _, ok := inlineFrame(rest[j+1:])
	if !ok || len(event) == 0 {
		return nil, nil, nil
	}
	return event, period, frame
}

// inlineFrame finds the frame after an event name: skip the event's modifiers
// (":u:") up to the first ':' or space, then an "addr symbol (module)" whose
// address is hex.
func inlineFrame(s []byte) (frame []byte, pc []byte, ok bool) {
	if i := bytes.IndexAny(s, ": "); i >= 0 {
		s = s[i+1:]
	} else {
		return nil, nil, false
	}
	s = bytes.TrimSpace(s)
	if len(s) == 0 {
		return nil, nil, false
	}
	pc, _, _, ok = matchStackLine(s)
	if !ok || !allHex(pc) {
		return nil, nil, false
	}
	return s, pc, true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}

func allHex(b []byte) bool {
	for _, c := range b {
		if !isHexDigit(c) {
			return false
		}
	}
	return len(b) > 0
}

// matchStackLine is the script's stack line, /^\s*(\w+)\s*(.+) \((.*)\)/,
// with its backtracking worked out: the module is between the last " (" that
// has a ')' after it and the last ')'.
func matchStackLine(l []byte) (pc, rawfunc, mod []byte, ok bool) {
	s := 0
	for s < len(l) && isSpace(l[s]) {
		s++
	}
	a := s
	for a < len(l) && isWordByte(l[a]) {
		a++
	}
	if a == s {
		return
	}
	b := a
	for b < len(l) && isSpace(l[b]) {
		b++
	}
	rp := bytes.LastIndexByte(l, ')')
	if rp < 0 {
		return
	}
	c := -1
	for i := rp - 2; i >= 0; i-- {
		if l[i] == ' ' && l[i+1] == '(' {
			c = i
			break
		}
	}
	switch {
	case c < 0:
		return
	case c >= b+1:
		return l[s:a], l[b:c], l[c+2 : rp], true
	case c >= a+1:
		// "addr  (module)": \s* gives one space back to (.+).
		return l[s:a], l[c-1 : c], l[c+2 : rp], true
	case c == a && a-1 >= s+1:
		// "abc (module)": \w+ gives its last character to (.+).
		return l[s : a-1], l[a-1 : a], l[c+2 : rp], true
	}
	return
}
