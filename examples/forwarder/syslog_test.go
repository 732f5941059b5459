package forwarder

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendRecord(t *testing.T) {
	tests := []struct {
		name, line, want string
		ok               bool
	}{
		{
			name: "rfc5424 example with sd",
			line: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...`,
			want: `{"facility":"local4","severity":"notice","version":1,"time":"2003-10-11T22:14:15.003Z","host":"mymachine.example.com","app":"evntslog","msgid":"ID47","sd":{"exampleSDID@32473":{"iut":"3","eventSource":"Application","eventID":"1011"}},"msg":"An application event log entry..."}`,
			ok:   true,
		},
		{
			name: "rfc5424 nil fields, no msg",
			line: `<34>1 - - - - - -`,
			want: `{"facility":"auth","severity":"crit","version":1}`,
			ok:   true,
		},
		{
			name: "rfc5424 bom and escapes",
			line: "<13>1 2026-01-02T03:04:05Z h a 7 - [x@1 v=\"a\\\"b\\\\c\\]d\\e\"][y@1] \xEF\xBB\xBFtab\there \"q\" \x01 \xff \u2028",
			want: `{"facility":"user","severity":"notice","version":1,"time":"2026-01-02T03:04:05Z","host":"h","app":"a","procid":"7","sd":{"x@1":{"v":"a\"b\\c]d\\e"},"y@1":{}},"msg":"tab\there \"q\" \u0001 \ufffd \u2028"}`,
			ok:   true,
		},
		{
			name: "rfc3164",
			line: `<34>Oct  1 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8`,
			want: `{"facility":"auth","severity":"crit","time":"Oct  1 22:14:15","host":"mymachine","app":"su","procid":"123","msg":"'su root' failed for lonvick on /dev/pts/8"}`,
			ok:   true,
		},
		{
			name: "rfc3164 without tag",
			line: `<13>Feb 29 00:00:00 host just text`,
			want: `{"facility":"user","severity":"notice","time":"Feb 29 00:00:00","host":"host","msg":"just text"}`,
			ok:   true,
		},
		{
			name: "bare line",
			line: `hello "world"`,
			want: `{"msg":"hello \"world\""}`,
			ok:   true,
		},
		{
			name: "priority out of range",
			line: `<192>1 - - - - - -`,
			want: `{"error":"syslog syntax: priority 192 out of range","raw":"<192>1 - - - - - -"}`,
		},
		{
			name: "unterminated sd",
			line: `<1>1 - - - - - [a b="c`,
			want: `{"error":"syslog syntax: structured data: unterminated value","raw":"<1>1 - - - - - [a b=\"c"}`,
		},
		{
			name: "missing header field",
			line: `<1>1 - -`,
			want: `{"error":"syslog syntax: hostname missing","raw":"<1>1 - -"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := AppendRecord(nil, []byte(tt.line))
			if string(got) != tt.want+"\n" || ok != tt.ok {
				t.Errorf("AppendRecord(%q)\n got %s (ok=%v)\nwant %s (ok=%v)", tt.line, got, ok, tt.want, tt.ok)
			}
			if !json.Valid(got) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

func TestParseErrorsAreSyntax(t *testing.T) {
	for _, line := range []string{"<", "<>", "<1234>x", "<1>1 ", "<1>123 - - - - - -", "<1>1 - - - - - [=]", "<1>1 - - - - - [a b]", "<1>1 - - - - - [a]x"} {
		if _, err := Parse([]byte(line)); !errors.Is(err, errSyntax) {
			t.Errorf("Parse(%q) = %v, want a syntax error", line, err)
		}
	}
}

// TestGeneratedLinesParse checks that the load generator's lines are what the
// forwarder is meant to parse: every one parses and keeps its "#c/i" id.
func TestGeneratedLinesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 11, 22, 1, 2, 3, 456789000, time.UTC)
	for i := range 2000 {
		line := AppendLine(nil, rng, now, 3, i)
		line = line[:len(line)-1]
		m, err := Parse(line)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if m.Priority < 0 || m.Hostname == nil || m.AppName == nil || m.Timestamp == nil {
			t.Fatalf("line %q: header not parsed: %+v", line, m)
		}
		if id := "#3/" + strconv.Itoa(i) + " "; !strings.HasPrefix(string(m.Msg), id) {
			t.Fatalf("line %q: msg %q does not start with %q", line, m.Msg, id)
		}
	}
}

func FuzzAppendRecord(f *testing.F) {
	for _, s := range []string{
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event`,
		`<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed`,
		"<13>1 - - - - - [x@1 v=\"a\\\"b\\\\c\\]d\"] \xEF\xBB\xBFmsg\t\x00\xff",
		`<0>1 - - - - - -`, `<191>Jan  1 00:00:00 h t: m`, `plain`, `<`, `<1>`, `<1>1 - - - - - [a b="c`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, ok := AppendRecord(nil, line)
		if len(rec) == 0 || rec[len(rec)-1] != '\n' {
			t.Fatalf("record not newline-terminated: %q", rec)
		}
		var v map[string]any
		if err := json.Unmarshal(rec, &v); err != nil {
			t.Fatalf("record of %q is not JSON: %v\n%s", line, err, rec)
		}
		m, err := Parse(line)
		if ok != (err == nil) {
			t.Fatalf("ok=%v but Parse error %v", ok, err)
		}
		if !ok {
			if raw, _ := v["raw"].(string); utf8.Valid(line) && raw != string(line) {
				t.Fatalf("raw %q != line %q", raw, line)
			}
			return
		}
		if msg, _ := v["msg"].(string); m.Msg != nil && utf8.Valid(m.Msg) && msg != string(m.Msg) {
			t.Fatalf("msg %q != parsed %q", msg, m.Msg)
		}
	})
}
