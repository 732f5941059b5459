package flame

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
)

// Format names an input format Read understands.
type Format string

// The input formats.
const (
	FormatPprof  Format = "pprof"  // pprof protobuf (github.com/google/pprof/proto/profile.proto)
	FormatFolded Format = "folded" // Brendan Gregg's folded stacks, "a;b;c 12"
	FormatPerf   Format = "perf"   // the text of `perf script`
)

// Formats lists the formats, for flag help and validation.
var Formats = []Format{FormatPprof, FormatFolded, FormatPerf}

// ReadOptions configure Read.
type ReadOptions struct {
	Format Format // force a format; "" detects it from the input
	Perf   PerfOptions
	Pprof  PprofOptions
}

// DetectWindow is how much of the input Read looks at to tell the formats
// apart: enough for `perf script --header`'s comment block.
const DetectWindow = 64 << 10

const anyFormat = "profile"

// Read reads a profile in any of the formats, gzipped or not, detecting the
// format from the input's first DetectWindow bytes unless opt.Format forces
// one. It returns the Profile and the format it read.
//
// Detection peeks through a bufio.Reader, so nothing but that window is
// buffered: perf script and folded input stream through their readers with
// bounded memory (pprof is decoded whole, see ReadPprof). Binary data is
// taken for pprof; text for perf script when its first line is a perf event
// line ("comm pid ... time: period event:") or it opens with '#' comments,
// for folded stacks when its first line ends with a count.
func Read(r io.Reader, opt ReadOptions) (*Profile, Format, error) {
	switch opt.Format {
	case "", FormatPprof, FormatFolded, FormatPerf:
	default:
		return nil, "", fmt.Errorf("reading profile: unknown format %q (want pprof, folded or perf)", opt.Format)
	}
	br := bufio.NewReaderSize(r, DetectWindow)
	head, _ := br.Peek(2)
	if len(head) == 0 {
		if _, err := br.Peek(1); err != nil && err != io.EOF {
			return nil, "", &ParseError{Format: anyFormat, Msg: "reading input: " + err.Error()}
		}
		return nil, "", &ParseError{Format: anyFormat, Msg: "empty input"}
	}
	if isGzip(head) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", &ParseError{Format: anyFormat, Msg: "reading gzip header: " + err.Error()}
		}
		defer zr.Close()
		br = bufio.NewReaderSize(gzipErrReader{zr}, DetectWindow)
	}
	f := opt.Format
	if f == "" {
		prefix, err := br.Peek(DetectWindow)
		if len(prefix) == 0 {
			if err != nil && err != io.EOF {
				return nil, "", &ParseError{Format: anyFormat, Msg: "reading input: " + err.Error()}
			}
			return nil, "", &ParseError{Format: anyFormat, Msg: "empty input (after gzip)"}
		}
		// A window cut short by a read error still tells the format; the
		// reader reports the error with its line.
		var line int
		if f, line = Detect(prefix, err != nil); f == "" {
			return nil, "", &ParseError{Format: anyFormat, Line: line, Msg: fmt.Sprintf(
				"unrecognized format: %s is neither a perf script event line nor a folded stack with its count", quoteField(firstLine(prefix, line)))}
		}
	}
	var p *Profile
	var err error
	switch f {
	case FormatPprof:
		p, err = ReadPprof(br, opt.Pprof)
	case FormatPerf:
		p, err = ReadPerf(br, opt.Perf)
	case FormatFolded:
		p, err = ReadFolded(br)
	}
	if err != nil {
		return nil, f, err
	}
	return p, f, nil
}

// Detect tells the format of an input from its first bytes (uncompressed).
// whole says prefix is the entire input, so its last line is complete. It
// returns "" and the 1-based line it could not classify when the text is
// neither perf script nor folded stacks.
func Detect(prefix []byte, whole bool) (Format, int) {
	if looksBinary(prefix) {
		return FormatPprof, 0
	}
	comments := false
	var event []byte // an event line without "period event:", awaiting its first frame
	eventLine := 0
	for n := 1; len(prefix) > 0; n++ {
		i := bytes.IndexByte(prefix, '\n')
		var line []byte
		if i < 0 {
			if !whole {
				break // a partial line: too little to go on
			}
			line, prefix = prefix, nil
		} else {
			line, prefix = prefix[:i], prefix[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(bytes.TrimSpace(line)) == 0:
			continue
		case line[0] == '#':
			comments = true
			continue
		case event != nil:
			// "java 19983 cycles:" (perf script -F without time) is an
			// event line if a frame follows it.
			if _, _, _, ok := matchStackLine(line); ok {
				return FormatPerf, 0
			}
			return "", eventLine
		}
		if isPerfEventLine(line) {
			return FormatPerf, 0
		}
		if _, _, msg := parseFoldedLine(line); msg == "" {
			return FormatFolded, 0
		}
		if _, _, _, _, ok := matchEvent(line); ok {
			event, eventLine = line, n
			continue
		}
		return "", n
	}
	if event != nil {
		return "", eventLine
	}
	if comments {
		return FormatPerf, 0 // perf script --header, samples beyond the window
	}
	return FormatFolded, 0 // blank: ReadFolded says "no samples"
}

// isPerfEventLine: the script's event line with its "period event:" tail, or
// an event line carrying its single frame (perf script without -g, whose
// command perf pads with spaces).
func isPerfEventLine(line []byte) bool {
	t := bytes.TrimLeft(line, " \t")
	_, _, _, end, ok := matchEvent(t)
	if !ok {
		return false
	}
	if _, _, ok := matchEventTail(t); ok {
		return true
	}
	_, _, frame := splitSingleLine(t[end:])
	return frame != nil
}

func firstLine(b []byte, n int) []byte {
	for ; n > 1; n-- {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return bytes.TrimSuffix(b, []byte("\r"))
}

// looksBinary: control bytes other than whitespace, or invalid UTF-8, in
// the prefix. A pprof protobuf has both within its first bytes; perf script
// and folded text have neither.
func looksBinary(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && !isSpace(c) || c == 0x7f {
			return true
		}
	}
	if utf8.Valid(b) {
		return false
	}
	// The window may end inside a rune: ignore an incomplete last one.
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return !utf8.Valid(b[:i])
			}
			break
		}
	}
	return true
}

// gzipErrReader names what went wrong when a gzip stream fails midway.
type gzipErrReader struct{ r io.Reader }

func (g gzipErrReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("truncated or corrupt gzip data: %w", err)
	}
	return n, err
}
