package forwarder

import (
	"strconv"
	"unicode/utf8"
)

var facilities = [24]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

var severities = [8]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// AppendRecord parses one syslog line and appends its JSON record, followed by
// a newline, to dst. It never fails: a line that breaks the syslog grammar
// becomes {"error":"...","raw":"..."} so nothing a sender wrote is lost. It
// reports whether the line parsed.
//
// The record's fields, in this order, each present only when the line had it:
//
//	{"facility":"auth","severity":"crit","version":1,"time":"2003-10-11T22:14:15.003Z",
//	 "host":"mymachine","app":"su","procid":"123","msgid":"ID47",
//	 "sd":{"exampleSDID@32473":{"iut":"3"}},"msg":"'su root' failed"}
//
// Strings are escaped by hand (no reflection, no allocation beyond growing
// dst): this is the forwarder's per-line cost, about 1.3µs for a typical
// 240-byte line (BenchmarkAppendRecord).
func AppendRecord(dst, line []byte) ([]byte, bool) {
	m, err := Parse(line)
	if err != nil {
		dst = append(dst, `{"error":`...)
		dst = appendString(dst, []byte(err.Error()))
		dst = append(dst, `,"raw":`...)
		dst = appendString(dst, line)
		return append(dst, "}\n"...), false
	}
	dst = append(dst, '{')
	comma := false
	field := func(name string) {
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, `":`...)
	}
	if m.Priority >= 0 {
		field("facility")
		dst = append(dst, '"')
		dst = append(dst, facilities[m.Priority>>3]...)
		dst = append(dst, '"')
		field("severity")
		dst = append(dst, '"')
		dst = append(dst, severities[m.Priority&7]...)
		dst = append(dst, '"')
	}
	if m.Version > 0 {
		field("version")
		dst = strconv.AppendInt(dst, int64(m.Version), 10)
	}
	for _, f := range [...]struct {
		name string
		v    []byte
	}{{"time", m.Timestamp}, {"host", m.Hostname}, {"app", m.AppName}, {"procid", m.ProcID}, {"msgid", m.MsgID}} {
		if f.v != nil {
			field(f.name)
			dst = appendString(dst, f.v)
		}
	}
	if m.SD != nil {
		field("sd")
		dst = appendSD(dst, m.SD)
	}
	if m.Msg != nil || m.Priority < 0 {
		field("msg")
		dst = appendString(dst, m.Msg)
	}
	return append(dst, "}\n"...), true
}

// appendSD turns validated structured data into a JSON object of objects:
// [id a="1" b="2"][id2 c="3"] -> {"id":{"a":"1","b":"2"},"id2":{"c":"3"}}.
// Values are unescaped (\" \\ \]) on the way. A repeated SD-ID (which RFC 5424
// forbids) is kept as a repeated key rather than silently merged.
func appendSD(dst, sd []byte) []byte {
	dst = append(dst, '{')
	i := 0
	for first := true; i < len(sd) && sd[i] == '['; first = false {
		if !first {
			dst = append(dst, ',')
		}
		i++
		n := scanName(sd[i:])
		dst = appendString(dst, sd[i:i+n])
		dst = append(dst, ":{"...)
		i += n
		for p := 0; sd[i] == ' '; p++ {
			if p > 0 {
				dst = append(dst, ',')
			}
			i++
			n := scanName(sd[i:])
			dst = appendString(dst, sd[i:i+n])
			dst = append(dst, ':', '"')
			i += n + 2 // name, '=', '"'
			start := i
			for sd[i] != '"' {
				if sd[i] == '\\' && i+1 < len(sd) {
					if c := sd[i+1]; c == '"' || c == '\\' || c == ']' {
						dst = appendEscaped(dst, sd[start:i])
						start = i + 1
					}
					i += 2
					continue
				}
				i++
			}
			dst = appendEscaped(dst, sd[start:i])
			dst = append(dst, '"')
			i++ // closing quote
		}
		dst = append(dst, '}')
		i++ // ']'
	}
	return append(dst, '}')
}

func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendEscaped appends s as the inside of a JSON string: quotes, backslashes
// and control characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028
// and U+2029 escaped because JavaScript consumers choke on them.
func appendEscaped(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
