package flame

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestMatchEvent(t *testing.T) {
	tests := []struct {
		line, comm, pid, tid string
		ok                   bool
	}{
		{"java 25607 4794564.109216: 1 cycles:", "java", "25607", "", true},
		{"java 12688 [002] 6544038.708352: 235 cpu-clock:", "java", "12688", "", true},
		{"V8 WorkerThread 25607 4794564.109216: 104345 cycles:", "V8 WorkerThread", "25607", "", true},
		{"java 24636/25607 [000] 4794564.109216: 1 cycles:", "java", "24636", "25607", true},
		{"a  123 x", "a ", "123", "", true}, // one-letter comm: .+? takes a space
		{"kworker/0:1 77 [000] 1.0: cycles:", "kworker/0:1", "77", "", true},
		{"x 12/ y", "", "", "", false}, // comm needs two characters before the space
		{"x 12/3y z 4 ", "x 12/3y z", "4", "", true},
		{" java 123 1.0: cycles:", "", "", "", false}, // must start with \S
		{"java 123", "", "", "", false},               // \s+ after the pid
		{"\t7f00 foo (bar)", "", "", "", false},
	}
	for _, tt := range tests {
		comm, pid, tid, _, ok := matchEvent([]byte(tt.line))
		if ok != tt.ok || string(comm) != tt.comm || string(pid) != tt.pid || string(tid) != tt.tid {
			t.Errorf("matchEvent(%q) = %q %q %q %v, want %q %q %q %v", tt.line, comm, pid, tid, ok, tt.comm, tt.pid, tt.tid, tt.ok)
		}
	}
}

func TestMatchEventTail(t *testing.T) {
	tests := []struct {
		line, period, event string
		ok                  bool
	}{
		{"java 25607 4794564.109216: 1 cycles:", "1", "cycles", true},
		{"java 25607 4794564.109216: cycles: ", "", "cycles", true},
		{"vote   913    72.176760:     257597 cycles:uppp:", "257597", "cycles:uppp", true},
		{"a 1 1.0:100 cycles:", "100", "cycles", true},
		{"a 1 1.0: sched:sched_switch:", "", "sched:sched_switch", true},
		{"false 64414 20110.539270:      34467 cycles:u:  ffffffff9aa3c8de [unknown] ([unknown])", "", "", false},
		{"a 1 x 5 cycles:", "", "", false}, // no ':' before the period
		{"cycles:", "", "", false},
	}
	for _, tt := range tests {
		period, event, ok := matchEventTail([]byte(tt.line))
		if ok != tt.ok || string(period) != tt.period || string(event) != tt.event {
			t.Errorf("matchEventTail(%q) = %q %q %v, want %q %q %v", tt.line, period, event, ok, tt.period, tt.event, tt.ok)
		}
	}
}

func TestMatchStackLine(t *testing.T) {
	tests := []struct {
		line, pc, fn, mod string
		ok                bool
	}{
		{"\t    7f6b2d25e364 Lio/netty/Foo;.bar (/tmp/perf-23895.map)", "7f6b2d25e364", "Lio/netty/Foo;.bar", "/tmp/perf-23895.map", true},
		{"  ffffffff8103ce3b native_safe_halt ([kernel.kallsyms])", "ffffffff8103ce3b", "native_safe_halt", "[kernel.kallsyms]", true},
		{"  7f1e2215d058  (/lib/libc-2.15.so)", "7f1e2215d058", " ", "/lib/libc-2.15.so", true},
		{"  abc (mod)", "ab", "c", "mod", true},
		{"  7f00 [unknown] (/memfd:x (deleted))", "7f00", "[unknown] (/memfd:x", "deleted)", true},
		{"  7f00 f(int) const (/bin/x)", "7f00", "f(int) const", "/bin/x", true},
		{"  7f00 foo (/bin/x", "", "", "", false},
		{"THIS_IS_A_WEIRD_LINE", "", "", "", false},
		{"  a (m)", "", "", "", false},
	}
	for _, tt := range tests {
		pc, fn, mod, ok := matchStackLine([]byte(tt.line))
		if ok != tt.ok || string(pc) != tt.pc || string(fn) != tt.fn || string(mod) != tt.mod {
			t.Errorf("matchStackLine(%q) = %q %q %q %v, want %q %q %q %v", tt.line, pc, fn, mod, ok, tt.pc, tt.fn, tt.mod, tt.ok)
		}
	}
}

func TestCutArgs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"foo(int, char)", "foo"},
		{"net/http.(*Client).Do", "net/http.(*Client).Do"},
		{"main.(*T[go.shape.int]).Run", "main.(*T[go.shape.int]).Run"},
		{"(anonymous namespace)::f(int)", "(anonymous namespace)::f"},
		{"std::function<int (int, int)>::operator()(int, int) const", "std::function<int (int, int)>::operator"},
		{"std::operator<< <std::char_traits<char> >(std::ostream&, char const*)", "std::operator<< <std::char_traits<char> >"},
		{"main::{lambda(int)#1}::operator()(int) const", "main::{lambda(int)#1}::operator"},
		{"Lorg/Foo;.call(Lorg/Bar;)V", "Lorg/Foo;.call"},
	}
	for _, tt := range tests {
		if got := string(cutArgs([]byte(tt.in))); got != tt.want {
			t.Errorf("cutArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func collapseString(t *testing.T, in string, opt PerfOptions) (string, error) {
	t.Helper()
	p, err := ReadPerf(strings.NewReader(in), opt)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := WriteFolded(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String(), nil
}

func TestReadPerf(t *testing.T) {
	const twoEvents = `# ========
# cmdline : /usr/bin/perf record -g ./app
# ========
#
app 10 1.0: 100 cycles:
	4004 leaf+0x4 (/app)
	4000 main (/app)

app 10 1.1: 7 instructions:
	4004 leaf+0x4 (/app)

app 10/11 [001] 1.2: 100 cycles:
	ffffffff81000000 do_syscall_64+0x1 ([kernel.kallsyms])
	7f00 [unknown] (/usr/lib/libc.so.6)
	7f01 [unknown] ([unknown])
	4000 main (/app)

`
	tests := []struct {
		name, in string
		opt      PerfOptions
		want     string
	}{
		{"first event only, periods", twoEvents, PerfOptions{},
			"app;main;[unknown];[libc.so.6];do_syscall_64 100\napp;main;leaf 100\n"},
		{"event filter", twoEvents, PerfOptions{EventFilter: "instructions"}, "app;leaf 7\n"},
		{"tid and kernel and addrs", twoEvents, PerfOptions{TID: true, Kernel: true, Addrs: true},
			"app-10/11;main;[unknown <7f01>];[libc.so.6 <7f00>];do_syscall_64_[k] 100\napp-?/10;main;leaf 100\n"},
		{"pid", twoEvents, PerfOptions{PID: true}, "app-10;main;[unknown];[libc.so.6];do_syscall_64 100\napp-?;main;leaf 100\n"},
		{"no period counts 1, comm with spaces", "V8 Worker 5 1.0: cycles:\n\t1 f (/x)\n\nV8 Worker 5 1.0: cycles:\n\t1 f (/x)\n\n",
			PerfOptions{}, "V8_Worker;f 2\n"},
		{"java inline and jit", "java 1 1.0: 1 cycles:\n\t1 La/B;::c->La/D;::e+0x4 (/tmp/perf-1.map)\n\n",
			PerfOptions{JIT: true}, "java;a/B:::c_[j];a/D:::e_[i] 1\n"},
		{"record without frames", "app 1 1.0: 3 cycles:\n\n", PerfOptions{}, "app 3\n"},
		{"unterminated last record is dropped", "app 1 1.0: 3 cycles:\n\t1 f (/x)\n\napp 1 1.0: 3 cycles:\n\t1 g (/x)\n",
			PerfOptions{}, "app;f 3\n"},
		{"CRLF", "app 1 1.0: 3 cycles:\r\n\t1 f (/x)\r\n\r\n", PerfOptions{}, "app;f 3\n"},
		{"no -g: frame on the event line", "            app  1 1.0:          5 cycles:u:  ffff f+0x1 (/x)\n            app  1 1.0:          5 cycles:u:  ffff f+0x1 (/x)\n",
			PerfOptions{}, "app;f 10\n"},
		{"quotes and semicolons", "app 1 1.0: 1 cycles:\n\t1 RegExp:[&<>\"'] (/tmp/perf-1.map)\n\t2 a;b (/x)\n\n", PerfOptions{}, "app;a:b;RegExp:[&<>] 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collapseString(t, tt.in, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestReadPerfBadInput(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "parsing perf script: empty input"},
		{"comments only", "# hello\n#\n", "parsing perf script: no samples"},
		{"filtered out", "app 1 1.0: 1 cycles:\n\t1 f (/x)\n\n", `parsing perf script: no samples of event "instructions"`},
		{"broken frame", "app 1 1.0: 1 cycles:\n\t1 f (/x)\n\t7f00 g (/lib/libc.so\n\n", `parsing perf script: line 3: unrecognized line "\t7f00 g (/lib/libc.so"`},
		{"garbage", "\x00\x01\x02binary", `parsing perf script: line 1: unrecognized line`},
		{"folded", "a;b;c 12\n", `parsing perf script: line 1: unrecognized line "a;b;c 12"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := PerfOptions{}
			if tt.name == "filtered out" {
				opt.EventFilter = "instructions"
			}
			_, err := ReadPerf(strings.NewReader(tt.in), opt)
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want a *ParseError %q", err, tt.want)
			}
		})
	}
}

func TestReadPerfReadError(t *testing.T) {
	in := "app 1 1.0: 1 cycles:\n\t1 f (/x)\n\t2 g (/x)\n"
	_, err := ReadPerf(iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader(in))), PerfOptions{})
	if err == nil || !strings.Contains(err.Error(), "line 1: reading input: timeout") {
		t.Fatalf("got %v", err)
	}
}

// TestReadPerfDeepStack: a 10,000-frame stack is read whole, and a record
// that never ends is stopped by MaxPerfStack, not by running out of memory.
func TestReadPerfDeepStack(t *testing.T) {
	var b strings.Builder
	b.WriteString("app 1 1.0: 1 cycles:\n")
	for i := 10000; i > 0; i-- {
		fmt.Fprintf(&b, "\t%x f%d (/x)\n", i, i)
	}
	b.WriteString("\n")
	p, err := ReadPerf(strings.NewReader(b.String()), PerfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	depth := 0
	p.Each(func(stack string, v float64) { depth = strings.Count(stack, ";") })
	if depth != 10000 || p.Total() != 1 {
		t.Fatalf("depth %d total %v, want 10000 and 1", depth, p.Total())
	}

	// An endless record of long frame names.
	frame := "\t7f00 " + strings.Repeat("x", 60000) + " (/x)\n"
	r := io.MultiReader(strings.NewReader("app 1 1.0: 1 cycles:\n"), &repeatReader{s: frame, n: MaxPerfStack/60000 + 10})
	_, err = ReadPerf(r, PerfOptions{})
	if err == nil || !strings.Contains(err.Error(), "stack of one sample longer than") {
		t.Fatalf("got %v, want the stack limit", err)
	}
}

func TestReadPerfLongLine(t *testing.T) {
	r := io.MultiReader(strings.NewReader("app 1 1.0: 1 cycles:\n\t"), &repeatReader{s: strings.Repeat("y", 1<<16), n: MaxPerfLine>>16 + 2})
	_, err := ReadPerf(r, PerfOptions{})
	if err == nil || !strings.Contains(err.Error(), "line 2: line longer than") {
		t.Fatalf("got %v", err)
	}
}

// repeatReader yields s n times without holding more than s.
type repeatReader struct {
	s   string
	n   int
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := copy(p, r.s[r.off:])
	r.off += k
	if r.off == len(r.s) {
		r.off = 0
		r.n--
	}
	return k, nil
}
