package flame

import (
	"strconv"
	"testing"
)

// Perl's rand(1) after srand(seed), from `perl -e 'srand(5); print rand(1)'`
// (Perl >= 5.20 uses its own drand48 on every platform).
func TestRandomNamehashIsPerlDrand48(t *testing.T) {
	// "\x05" sums to 5.
	if got := strconv.FormatFloat(randomNamehash("\x05"), 'g', 15, 64); got != "0.524839579434232" {
		t.Fatalf("randomNamehash = %s, perl says 0.524839579434232", got)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name, module string
		want         goClass
	}{
		{"runtime.mallocgc", "", classRuntime},
		{"indexbody", "", classRuntime}, // internal/bytealg assembly, named without a package
		{"gogo", "", classRuntime},
		{"runtime/internal/atomic.Load", "", classRuntime},
		{"internal/poll.(*FD).Read", "", classRuntime},
		{"net/http.(*conn).serve", "", classStd},
		{"sync.(*Mutex).Lock", "", classStd},
		{"encoding/json.Unmarshal", "", classStd},
		{"main.main", "", classModule},
		{"main.(*server).handle.func1", "", classModule},
		{"github.com/me/app/internal/fwd.(*Publisher).run", "github.com/me/app", classModule},
		{"github.com/me/app/internal/fwd.(*Publisher).run", "", classThirdParty},
		{"golang.org/x/net/http2.(*Framer).ReadFrame", "github.com/me/app", classThirdParty},
		{"gopkg.in/yaml%2ev3.unmarshal", "", classThirdParty},
		{"github.com/x/y.F[go.shape.int]", "", classThirdParty},
		{"entry_SYSCALL_64_[k]", "", classKernel},
		{"do_syscall_64", "", classNative},
		{"__libc_start_main", "", classNative},
		{"[unknown]", "", classNative},
		{"_cgo_topofstack", "", classNative},
		{"std::function<void ()>::operator()", "", classNative},
		{"memcpy.constprop.0", "", classNative},
		{"java", "", classNative},
		{"indexbytebody", "", classRuntime},
	} {
		if got := classify(tc.name, tc.module); got != tc.want {
			t.Errorf("classify(%q, %q) = %d, want %d", tc.name, tc.module, got, tc.want)
		}
	}
}

func TestInferModulePath(t *testing.T) {
	p := NewProfile("samples")
	p.Add("runtime.main;main.main;github.com/me/app/internal/fwd.Run;runtime.mallocgc", 5)
	p.Add("runtime.main;main.main;github.com/other/lib.Do", 1)
	p.Add("runtime.main;main.main;fmt.Println", 9)
	if got := InferModulePath(p); got != "github.com/me/app" {
		t.Fatalf("InferModulePath = %q", got)
	}
	bench := NewProfile("samples")
	bench.Add("testing.(*B).runN;github.com/hotloop/hotloop/flame.BenchmarkX;bytes.IndexByte", 3)
	if got := InferModulePath(bench); got != "github.com/hotloop/hotloop" {
		t.Fatalf("InferModulePath of a benchmark = %q", got)
	}
	q := NewProfile("samples")
	q.Add("a;b", 1)
	if got := InferModulePath(q); got != "" {
		t.Fatalf("InferModulePath without main = %q", got)
	}
}
