package flame

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
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

	// EventFilter keeps only samples of this event, named as perf prints it
	// before its last ':' ("cycles", "cpu-clock:uhH", "sched:sched_switch").
	// Empty means the first event seen, as the script does: merging cycles
	// with instructions would give a misleading picture.
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
// ReadPerf streams: memory is the profile, one line, one record, a cache of
// distinct stack lines (at most 256Ki) and up to 32 MiB of per-stack sums,
// not the input. A line it cannot parse is an error (*ParseError with its line
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

// perfLineCacheMax bounds the frame cache (entries); it is dropped and
// rebuilt when full. A capture has a few thousand distinct stack lines.
const perfLineCacheMax = 1 << 18

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
	pnameID  uint32
	java     int // 1 if pname starts with "java" (the script's $tidy_java)
	period   float64
	frames   []uint32 // one per stack line, leaf first: ids of "caller;...;callee"
	size     int      // bytes of the record's frames

	// Stack lines are parsed and tidied once per distinct line (the same
	// call sites recur in every sample): cache maps a line, without its
	// indentation, to the id of its frames in sums, per java-ness.
	cache [2]map[string]uint32
	sums  *stackSums
	buf   []byte
}

// noFrame is the id of a stack line that contributes no frame.
const noFrame = ^uint32(0)

func newPerfCollapser(r io.Reader, opt PerfOptions) *perfCollapser {
	if opt.All {
		opt.Kernel, opt.JIT = true, true
	}
	return &perfCollapser{
		r:      bufio.NewReaderSize(r, 256<<10),
		opt:    opt,
		p:      NewProfile("samples"),
		filter: opt.EventFilter,
		cache:  [2]map[string]uint32{make(map[string]uint32), make(map[string]uint32)},
		sums:   newStackSums(),
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
			c.sums.flush(c.p)
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
	if c.inRecord {
		if ok, err := c.onStackLine(line); ok || err != nil {
			return err
		}
	} else if _, _, _, ok := matchStackLine(line); ok {
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
	c.pnameID = c.sums.intern(c.pname)
	c.java = 0
	if bytes.HasPrefix(c.pname, []byte("java")) {
		c.java = 1
	}
	c.inRecord = true
	if single != nil {
		if _, err := c.onStackLine(single); err != nil {
			return err
		}
		c.endRecord()
	}
	return nil
}

// endRecord is the script's blank line: count the record, if one is open.
func (c *perfCollapser) endRecord() {
	if c.inRecord {
		k := binary.LittleEndian.AppendUint32(c.sums.key[:0], c.pnameID)
		for i := len(c.frames) - 1; i >= 0; i-- {
			k = binary.LittleEndian.AppendUint32(k, c.frames[i])
		}
		c.sums.key = k
		c.sums.add(k, c.period, c.p)
		c.inRecord = false
	}
	c.frames, c.size = c.frames[:0], 0
}

// stackSums sums values per distinct stack before they go to a Profile.
// Frames are interned; a stack is keyed by its frame ids (4 bytes a frame
// where its folded text is some 40), so a repeated stack costs one hash of
// its key, and the Profile gets each stack once, in an order that shares
// prefixes, which is what its Add is fast at. Memory: the frame names, and
// keys up to stackSumsMax bytes before they are flushed.
type stackSums struct {
	names  []string
	nameID map[string]uint32
	agg    map[string]int
	keys   []string
	vals   []float64
	size   int
	key    []byte // the caller's buffer for building keys
	stack  []byte
}

// stackSumsMax bounds the bytes of keys held before a flush.
const stackSumsMax = 32 << 20

func newStackSums() *stackSums {
	return &stackSums{nameID: make(map[string]uint32), agg: make(map[string]int)}
}

// intern returns the id of a frame name.
func (s *stackSums) intern(name []byte) uint32 {
	if id, ok := s.nameID[string(name)]; ok {
		return id
	}
	id := uint32(len(s.names))
	n := string(name)
	s.names = append(s.names, n)
	s.nameID[n] = id
	return id
}

// add adds v to the stack whose frame ids, root first, are the
// little-endian uint32s of k.
func (s *stackSums) add(k []byte, v float64, p *Profile) {
	if i, ok := s.agg[string(k)]; ok {
		s.vals[i] += v
		return
	}
	ks := string(k)
	s.agg[ks] = len(s.keys)
	s.keys = append(s.keys, ks)
	s.vals = append(s.vals, v)
	s.size += len(ks) + 64
	if s.size > stackSumsMax {
		s.flush(p)
	}
}

func (s *stackSums) frame(k string, i int) string {
	return s.names[binary.LittleEndian.Uint32([]byte(k[i:i+4]))]
}

// flush adds the summed stacks to p, sorted frame by frame so that
// consecutive stacks share their prefixes.
func (s *stackSums) flush(p *Profile) {
	order := make([]int, len(s.keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ka, kb := s.keys[a], s.keys[b]
		for i := 0; i < len(ka) && i < len(kb); i += 4 {
			if d := strings.Compare(s.frame(ka, i), s.frame(kb, i)); d != 0 {
				return d
			}
		}
		return len(ka) - len(kb)
	})
	for _, i := range order {
		k := s.keys[i]
		st := s.stack[:0]
		for j := 0; j < len(k); j += 4 {
			if j > 0 {
				st = append(st, ';')
			}
			st = append(st, s.frame(k, j)...)
		}
		s.stack = st
		p.addBytes(st, s.vals[i])
	}
	clear(s.agg)
	clear(s.keys)
	s.keys, s.vals, s.size = s.keys[:0], s.vals[:0], 0
}

// onStackLine adds the frames of a stack line to the record; false if the
// line is not one.
func (c *perfCollapser) onStackLine(line []byte) (bool, error) {
	s := 0
	for s < len(line) && isSpace(line[s]) {
		s++
	}
	key := line[s:]
	id, ok := c.cache[c.java][string(key)]
	if !ok {
		pc, rawfunc, mod, isStack := matchStackLine(key)
		if !isStack {
			return false, nil
		}
		c.buf = c.appendFrames(c.buf[:0], pc, rawfunc, mod, c.java == 1)
		id = noFrame
		if len(c.buf) > 0 { // not a process name, nor only "->"
			id = c.sums.intern(c.buf)
		}
		if len(c.cache[c.java]) >= perfLineCacheMax {
			clear(c.cache[c.java])
		}
		c.cache[c.java][string(key)] = id
	}
	if id == noFrame {
		return true, nil
	}
	c.size += len(c.sums.names[id]) + 1
	if c.size > MaxPerfStack {
		return true, c.errorf("stack of one sample longer than %d bytes (a record without its closing blank line?)", MaxPerfStack)
	}
	c.frames = append(c.frames, id)
	return true, nil
}

// appendFrames appends the frames of one stack line, caller first, joined by
// ';': several when perf shows inlined Java frames as "a->b->c".
func (c *perfCollapser) appendFrames(dst, pc, rawfunc, mod []byte, java bool) []byte {
	rawfunc = stripOffset(rawfunc)
	if len(rawfunc) > 0 && rawfunc[0] == '(' {
		return dst // a process name, as the script skips
	}
	for i, f := range splitArrow(rawfunc) {
		if i > 0 {
			dst = append(dst, ';')
		}
		start := len(dst)
		dst = c.appendFunc(dst, f, pc, mod, java)
		name := dst[start:]
		switch {
		case i > 0:
			if !bytes.Contains(name, []byte("_[i]")) {
				dst = append(dst, "_[i]"...)
			}
		case c.opt.Kernel && isKernelModule(mod):
			dst = append(dst, "_[k]"...)
		case c.opt.JIT && isJITModule(mod):
			if !bytes.Contains(name, []byte("_[j]")) {
				dst = append(dst, "_[j]"...)
			}
		}
	}
	return dst
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
	if l[ws-1] == ':' {
		return nil, l[ts : end-1], true
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
		return l[d:ws], l[ts : end-1], true
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
