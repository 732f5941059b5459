package flame

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// MaxFoldedLine bounds the length of one folded line (16 MiB, a stack some
// 500,000 frames deep), so a file without newlines cannot exhaust memory.
const MaxFoldedLine = 16 << 20

const foldedFormat = "folded stacks"

// FoldedReader reads Brendan Gregg's folded stacks ("a;b;c 12") one line at a
// time: a pull iterator in the style of golang.org/x/exp/trace. It holds one
// line in memory, never the whole input.
type FoldedReader struct {
	r    *bufio.Reader
	long []byte // a line longer than r's buffer, assembled here
	line int
}

// NewFoldedReader returns a reader of folded stacks from r.
func NewFoldedReader(r io.Reader) *FoldedReader {
	return &FoldedReader{r: bufio.NewReaderSize(r, 256<<10)}
}

// Line is the 1-based number of the line Next returned last.
func (fr *FoldedReader) Line() int { return fr.line }

// Next returns the next stack (frames joined by ';', root first) and its count.
// The count is the last whitespace-separated field of the line; it may be
// fractional but not negative. Blank lines are skipped and CRLF line ends
// accepted. The stack bytes are valid until the next call. At the end of the
// input Next returns io.EOF; a malformed line gives a *ParseError with its
// line number.
func (fr *FoldedReader) Next() (stack []byte, value float64, err error) {
	for {
		line, err := fr.readLine()
		if err != nil {
			return nil, 0, err
		}
		stack, value, msg := parseFoldedLine(line)
		if msg == "" {
			return stack, value, nil
		}
		if msg == blankLine {
			continue
		}
		return nil, 0, &ParseError{Format: foldedFormat, Line: fr.line, Msg: msg}
	}
}

func (fr *FoldedReader) readLine() ([]byte, error) {
	fr.long = fr.long[:0]
	line, err := fr.r.ReadSlice('\n')
	if err == nil || (err == io.EOF && len(line) > 0) {
		fr.line++
		if fr.line == 1 {
			line = bytes.TrimPrefix(line, utf8BOM) // editors on Windows add one
		}
		return line, nil
	}
	if err == io.EOF {
		return nil, io.EOF
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fr.readError(err)
	}
	fr.line++
	fr.long = append(fr.long[:0], line...)
	for {
		line, err = fr.r.ReadSlice('\n')
		if len(fr.long)+len(line) > MaxFoldedLine {
			return nil, &ParseError{Format: foldedFormat, Line: fr.line, Msg: fmt.Sprintf("line longer than %d bytes", MaxFoldedLine)}
		}
		fr.long = append(fr.long, line...)
		switch {
		case err == nil || err == io.EOF:
			return fr.long, nil
		case errors.Is(err, bufio.ErrBufferFull):
		default:
			return nil, fr.readError(err)
		}
	}
}

// readError reports a failing reader (a truncated gzip stream, an I/O error)
// at the line it broke off in; the underlying error stays reachable with errors.Is.
func (fr *FoldedReader) readError(err error) error {
	line := fr.line
	if len(fr.long) == 0 {
		line++
	}
	return fmt.Errorf("%w: %w", &ParseError{Format: foldedFormat, Line: line, Msg: "reading input"}, err)
}

const blankLine = "\x00blank"

var utf8BOM = []byte("\ufeff")

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// parseFoldedLine splits "stack count" and returns a message on error, or
// blankLine for a line of only whitespace.
func parseFoldedLine(line []byte) (stack []byte, value float64, msg string) {
	end := len(line)
	for end > 0 && isSpace(line[end-1]) {
		end--
	}
	if end == 0 {
		return nil, 0, blankLine
	}
	line = line[:end]
	if bytes.IndexByte(line, 0) >= 0 {
		return nil, 0, "binary data (NUL byte), not folded stacks"
	}
	sp := end - 1
	for sp >= 0 && !isSpace(line[sp]) {
		sp--
	}
	if sp < 0 {
		return nil, 0, "missing count (want \"frame;frame;... count\")"
	}
	count := line[sp+1:]
	value, msg = parseCount(count)
	if msg != "" {
		return nil, 0, msg
	}
	// Only the one whitespace character before the count separates it, as in
	// flamegraph.pl: "a;  3" is the stack "a; " whose leaf frame is a space.
	if sp == 0 {
		return nil, 0, "missing stack before the count"
	}
	return line[:sp], value, ""
}

// parseCount parses a non-negative decimal count: digits with an optional
// fraction, as flamegraph.pl accepts.
func parseCount(b []byte) (float64, string) {
	// Fast path: a plain integer of up to 15 digits is exact in a float64.
	if len(b) <= 15 {
		var n int64
		i := 0
		for ; i < len(b); i++ {
			c := b[i]
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int64(c-'0')
		}
		if i == len(b) {
			return float64(n), ""
		}
	}
	digits, dot := 0, 0
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && dot == 0 && i > 0:
			dot++
		case c == '-' && i == 0 && len(b) > 1:
			return 0, fmt.Sprintf("negative count %s", quoteField(b))
		default:
			return 0, fmt.Sprintf("invalid count %s", quoteField(b))
		}
	}
	if digits == 0 {
		return 0, fmt.Sprintf("invalid count %s", quoteField(b))
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Sprintf("invalid count %s", quoteField(b))
	}
	return v, ""
}

func quoteField(b []byte) string {
	if len(b) > 32 {
		return strconv.Quote(string(b[:32])) + "..."
	}
	return strconv.Quote(string(b))
}

// ReadFolded reads folded stacks ("a;b;c 12", one stack per line, the count
// last) into a Profile whose unit is "samples". It streams: memory is the
// profile's prefix tree plus one line, not the input. Empty input (no stack
// at all) is an error, "parsing folded stacks: no samples".
//
// Differential folded stacks, difffolded.pl's "stack base new" lines, are
// recognised by their first line, as flamegraph.pl does: the result is then
// the differential profile Diff would give (see IsDiff), with new's values.
func ReadFolded(r io.Reader) (*Profile, error) {
	p := NewProfile("samples")
	fr := NewFoldedReader(r)
	diff := false
	for first := true; ; first = false {
		stack, v, err := fr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if first {
			_, _, diff = splitBaseCount(stack)
		}
		if !diff {
			p.addBytes(stack, v)
			continue
		}
		s, base, ok := splitBaseCount(stack)
		if !ok {
			return nil, &ParseError{Format: foldedFormat, Line: fr.Line(), Msg: "missing base count: a differential file has \"stack base new\" on every line"}
		}
		p.addBytes(s, v)
		n := p.lastPath[len(p.lastPath)-1]
		for len(p.base) < len(p.nodes) {
			p.base = append(p.base, 0)
		}
		p.base[n] += base
	}
	if p.Len() == 0 {
		return nil, &ParseError{Format: foldedFormat, Msg: "no samples"}
	}
	if diff {
		for len(p.base) < len(p.nodes) {
			p.base = append(p.base, 0)
		}
	}
	return p, nil
}

// splitBaseCount splits the base count off the stack of a differential line
// ("a;b 3" of "a;b 3 5"): a whitespace-separated number that ends the stack.
func splitBaseCount(stack []byte) ([]byte, float64, bool) {
	sp := len(stack) - 1
	for sp >= 0 && !isSpace(stack[sp]) {
		sp--
	}
	if sp <= 0 || sp == len(stack)-1 {
		return nil, 0, false
	}
	v, msg := parseCount(stack[sp+1:])
	if msg != "" {
		return nil, 0, false
	}
	return stack[:sp], v, true
}

// WriteFolded writes p as folded stacks, one line per distinct stack in byte
// order, so the output is deterministic. Integral values are printed without
// decimals, others in the shortest form that reads back exactly.
func WriteFolded(w io.Writer, p *Profile) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	var err error
	p.Each(func(stack string, v float64) {
		if err != nil {
			return
		}
		buf = append(buf[:0], stack...)
		buf = append(buf, ' ')
		buf = appendValue(buf, v)
		buf = append(buf, '\n')
		_, err = bw.Write(buf)
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// appendValue formats a count: integers without decimals.
func appendValue(b []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
