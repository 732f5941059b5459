package flame

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadPerf feeds perf script text, seeded with the peer corpus, to
// ReadPerf with each option: it must return a profile or a *ParseError,
// never panic, and every stack it keeps has a non-empty root (the command).
func FuzzReadPerf(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(peersDir, "flamegraph-pl/test/*.txt"))
	more, _ := filepath.Glob(filepath.Join(peersDir, "inferno/collapse-perf/*.txt"))
	for _, path := range append(seeds, more...) {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if len(b) > 4<<10 {
			b = b[:4<<10] // the fuzzer mutates small inputs better
		}
		f.Add(b, uint8(0))
	}
	f.Add([]byte(perfSample), uint8(0xff))
	f.Add([]byte("java 1 1.0: 1 cycles:\n\t1 La/B;::c->La/D;::e+0x4 (/tmp/perf-1.map)\n\n"), uint8(8))
	f.Fuzz(func(t *testing.T, in []byte, flags uint8) {
		opt := PerfOptions{PID: flags&1 != 0, TID: flags&2 != 0, Kernel: flags&4 != 0, JIT: flags&8 != 0,
			All: flags&16 != 0, Addrs: flags&32 != 0}
		if flags&64 != 0 {
			opt.EventFilter = "cycles"
		}
		p, err := ReadPerf(bytes.NewReader(in), opt)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if p != nil {
				t.Fatal("profile with an error")
			}
			return
		}
		if p.Len() == 0 {
			t.Fatal("no error and no samples")
		}
		p.Each(func(stack string, v float64) {
			if root, _, _ := strings.Cut(stack, ";"); root == "" {
				t.Fatalf("stack %q without a root frame", stack)
			}
		})
	})
}
