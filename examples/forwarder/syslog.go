package forwarder

import (
	"bytes"
	"errors"
	"fmt"
)

// Message is one parsed syslog line. Every field is a slice of the line it was
// parsed from (no copy, no allocation); a field the line did not carry is nil.
//
// Both wire formats are accepted:
//
//	RFC 5424: <34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut="3"] message
//	RFC 3164: <34>Oct 11 22:14:15 mymachine su[123]: message
type Message struct {
	Priority  int    // 0..191; -1 when the line had no <PRI>
	Version   int    // 1 for RFC 5424, 0 for RFC 3164 and bare lines
	Timestamp []byte // RFC 3339 (5424) or "Mmm dd hh:mm:ss" (3164), as sent
	Hostname  []byte
	AppName   []byte // RFC 3164: the TAG
	ProcID    []byte
	MsgID     []byte
	SD        []byte // structured data, validated, still in wire form ("[id k=\"v\"]...")
	Msg       []byte
}

// errSyntax is wrapped by every Parse error, so callers can tell a malformed
// line from other failures.
var errSyntax = errors.New("syslog syntax")

func syntaxErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errSyntax}, args...)...)
}

// Parse parses one syslog line without its trailing newline. A line without a
// <PRI> header is accepted as a bare message (Priority -1), because real
// senders do that and a forwarder must not drop their logs; a line that starts
// like a header but breaks the grammar is an error.
func Parse(line []byte) (Message, error) {
	m := Message{Priority: -1}
	if len(line) == 0 || line[0] != '<' {
		m.Msg = line
		return m, nil
	}
	// <PRI>: 1 to 3 digits, at most 191.
	i, pri := 1, 0
	for i < len(line) && i <= 4 && isDigit(line[i]) {
		pri = pri*10 + int(line[i]-'0')
		i++
	}
	if i == 1 || i > 4 || i >= len(line) || line[i] != '>' {
		return m, syntaxErr("bad priority header")
	}
	if pri > 191 {
		return m, syntaxErr("priority %d out of range", pri)
	}
	m.Priority = pri
	rest := line[i+1:]
	// RFC 5424 goes on with VERSION SP; a 3164 timestamp starts with a letter.
	if len(rest) >= 2 && isDigit(rest[0]) && (rest[1] == ' ' || isDigit(rest[1])) {
		return parse5424(m, rest)
	}
	return parse3164(m, rest), nil
}

var headerNames = [5]string{"timestamp", "hostname", "app-name", "procid", "msgid"}

func parse5424(m Message, b []byte) (Message, error) {
	j := 0
	for j < len(b) && isDigit(b[j]) {
		m.Version = m.Version*10 + int(b[j]-'0')
		j++
		if j > 2 {
			return m, syntaxErr("bad version")
		}
	}
	if m.Version == 0 || j >= len(b) || b[j] != ' ' {
		return m, syntaxErr("bad version")
	}
	b = b[j+1:]
	var fields [5][]byte
	for k := range fields {
		sp := bytes.IndexByte(b, ' ')
		if sp <= 0 {
			return m, syntaxErr("%s missing", headerNames[k])
		}
		if f := b[:sp]; !(len(f) == 1 && f[0] == '-') {
			fields[k] = f
		}
		b = b[sp+1:]
	}
	m.Timestamp, m.Hostname, m.AppName, m.ProcID, m.MsgID = fields[0], fields[1], fields[2], fields[3], fields[4]
	if len(b) == 0 {
		return m, syntaxErr("structured data missing")
	}
	if b[0] == '-' {
		b = b[1:]
	} else {
		n, err := scanSD(b)
		if err != nil {
			return m, err
		}
		m.SD, b = b[:n], b[n:]
	}
	if len(b) > 0 {
		if b[0] != ' ' {
			return m, syntaxErr("no space after structured data")
		}
		b = b[1:]
		// A UTF-8 byte order mark announces the message's encoding; it is not content.
		if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
			b = b[3:]
		}
		m.Msg = b
	}
	return m, nil
}

// scanSD returns the length of the SD-ELEMENTs at the start of b:
// [SD-ID *(SP PARAM-NAME="PARAM-VALUE")] repeated, values escaping \" \\ \].
func scanSD(b []byte) (int, error) {
	i := 0
	for i < len(b) && b[i] == '[' {
		i++
		n := scanName(b[i:])
		if n == 0 {
			return 0, syntaxErr("structured data: bad SD-ID")
		}
		i += n
		for {
			if i >= len(b) {
				return 0, syntaxErr("structured data: unterminated element")
			}
			if b[i] == ']' {
				i++
				break
			}
			if b[i] != ' ' {
				return 0, syntaxErr("structured data: expected space or ]")
			}
			i++
			n := scanName(b[i:])
			if n == 0 {
				return 0, syntaxErr("structured data: bad param name")
			}
			i += n
			if i+1 >= len(b) || b[i] != '=' || b[i+1] != '"' {
				return 0, syntaxErr("structured data: expected =\"")
			}
			i += 2
			for {
				if i >= len(b) {
					return 0, syntaxErr("structured data: unterminated value")
				}
				c := b[i]
				if c == '\\' && i+1 < len(b) {
					i += 2
					continue
				}
				i++
				if c == '"' {
					break
				}
			}
		}
	}
	return i, nil
}

// scanName returns the length of an SD-NAME: printable ASCII except = SP ] ",
// at most 32 characters.
func scanName(b []byte) int {
	n := 0
	for n < len(b) && n <= 32 {
		c := b[n]
		if c <= ' ' || c >= 127 || c == '=' || c == ']' || c == '"' {
			break
		}
		n++
	}
	if n > 32 {
		return 0
	}
	return n
}

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parse3164 is lenient, as RFC 3164 itself asks relays to be: whatever does not
// fit the TIMESTAMP HOSTNAME TAG: pattern stays in Msg.
func parse3164(m Message, b []byte) Message {
	if len(b) >= 16 && isTimestamp3164(b[:15]) && b[15] == ' ' {
		m.Timestamp = b[:15]
		b = b[16:]
		if sp := bytes.IndexByte(b, ' '); sp > 0 {
			m.Hostname = b[:sp]
			b = b[sp+1:]
		}
	}
	// TAG: up to 32 alphanumerics (plus a few common punctuation), then [pid] and/or ':'.
	t := 0
	for t < len(b) && t < 48 && b[t] != '[' && b[t] != ':' && b[t] != ' ' {
		t++
	}
	if t > 0 && t < len(b) {
		tag, r := b[:t], b[t:]
		var pid []byte
		if r[0] == '[' {
			if e := bytes.IndexByte(r, ']'); e > 1 {
				pid, r = r[1:e], r[e+1:]
			} else {
				r = nil
			}
		}
		if len(r) >= 1 && r[0] == ':' {
			m.AppName, m.ProcID = tag, pid
			b = r[1:]
			if len(b) > 0 && b[0] == ' ' {
				b = b[1:]
			}
		}
	}
	m.Msg = b
	return m
}

func isTimestamp3164(b []byte) bool {
	ok := false
	for _, mo := range months {
		if string(b[:3]) == mo {
			ok = true
			break
		}
	}
	return ok && b[3] == ' ' && (b[4] == ' ' || isDigit(b[4])) && isDigit(b[5]) && b[6] == ' ' &&
		isDigit(b[7]) && isDigit(b[8]) && b[9] == ':' && isDigit(b[10]) && isDigit(b[11]) && b[12] == ':' &&
		isDigit(b[13]) && isDigit(b[14])
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
