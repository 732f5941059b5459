package flame

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Palettes lists the names SVGOptions.Colors accepts: "go" (the default) and
// flamegraph.pl's single-hue and themed palettes.
var Palettes = []string{"go", "hot", "mem", "io", "red", "green", "blue", "aqua", "yellow", "purple", "orange"}

func validPalette(name string) bool {
	for _, p := range Palettes {
		if p == name {
			return true
		}
	}
	return false
}

// rgb is a colour; frames are filled with rgb(r,g,b) as flamegraph.pl writes them.
type rgb struct{ r, g, b int }

func (c rgb) append(b []byte) []byte {
	b = append(b, "rgb("...)
	b = strconv.AppendInt(b, int64(c.r), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(c.g), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(c.b), 10)
	return append(b, ')')
}

func (c rgb) String() string { return string(c.append(nil)) }

// namehash is flamegraph.pl's --hash: a value in [0,1] from the first three
// characters of name (after a "module`" prefix), weighting early characters
// more, so a function keeps its colour across graphs.
func namehash(name string) float64 {
	if i := strings.IndexByte(name, '`'); i == 0 {
		if j := strings.IndexByte(name[1:], '`'); j >= 0 {
			name = name[j+2:]
		}
	} else if i > 0 {
		name = name[i+1:]
	}
	vector, weight, maxv, mod := 0.0, 1.0, 1.0, 10
	for _, c := range name {
		i := int(c) % mod
		vector += float64(i) / float64(mod-1) * weight
		mod++
		maxv += weight
		weight *= 0.70
		if mod > 12 {
			break
		}
	}
	return 1 - vector/maxv
}

// randomNamehash is flamegraph.pl's default colour key: Perl's rand(1) after
// srand(sum of the name's characters). Perl's drand48 is reproduced exactly,
// so default colours equal flamegraph.pl's.
func randomNamehash(name string) float64 {
	var sum uint32
	for _, c := range name {
		sum += uint32(c)
	}
	x := uint64(sum)<<16 + 0x330e
	x = (x*0x5DEECE66D + 0xB) & (1<<48 - 1)
	return float64(x) / (1 << 48)
}

// reverseString reverses name by characters, as Perl's scalar reverse.
func reverseString(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// hueColor is flamegraph.pl's color() for the palettes it shares with us.
func hueColor(palette string, v1, v2, v3 float64) rgb {
	switch palette {
	case "hot":
		return rgb{205 + int(50*v3), int(230 * v1), int(55 * v2)}
	case "mem":
		return rgb{0, 190 + int(50*v2), int(210 * v1)}
	case "io":
		r := 80 + int(60*v1)
		return rgb{r, r, 190 + int(55*v2)}
	case "red":
		x := 50 + int(80*v1)
		return rgb{200 + int(55*v1), x, x}
	case "green":
		x := 50 + int(60*v1)
		return rgb{x, 200 + int(55*v1), x}
	case "blue":
		x := 80 + int(60*v1)
		return rgb{x, x, 205 + int(50*v1)}
	case "yellow":
		x := 175 + int(55*v1)
		return rgb{x, x, 50 + int(20*v1)}
	case "purple":
		x := 190 + int(65*v1)
		return rgb{x, 80 + int(60*v1), x}
	case "aqua":
		return rgb{50 + int(60*v1), 165 + int(55*v1), 165 + int(55*v1)}
	case "orange":
		return rgb{190 + int(65*v1), 90 + int(65*v1), 0}
	}
	return rgb{0, 0, 0}
}

// Go frame classes of the "go" palette, each drawn in its own hue.
type goClass int

const (
	classRuntime goClass = iota
	classStd
	classModule
	classThirdParty
	classKernel
	classNative
	numClasses
)

var classHue = [numClasses]string{"blue", "yellow", "green", "aqua", "orange", "red"}

// colorer picks frame colours and notes which Go classes it drew, for the legend.
type colorer struct {
	palette string
	hash    bool
	module  string // module path of the user's code; "" means only main.*
	used    [numClasses]bool
}

func (c *colorer) color(name string) rgb {
	switch name {
	case "--":
		return rgb{160, 160, 160}
	case "-":
		return rgb{200, 200, 200}
	}
	if c.palette == "go" {
		cl := classify(name, c.module)
		c.used[cl] = true
		// Shade within the class by the name, as --hash does: stable across graphs.
		return hueColor(classHue[cl], namehash(name), 0, 0)
	}
	var v1, v2, v3 float64
	if c.hash {
		v1 = namehash(name)
		v2 = namehash(reverseString(name))
		v3 = v2
	} else {
		v1 = randomNamehash(name)
		v2, v3 = v1, v1
	}
	return hueColor(c.palette, v1, v2, v3)
}

// legend returns the classes drawn, with their label and a representative colour.
func (c *colorer) legend() []legendEntry {
	if c.palette != "go" {
		return nil
	}
	labels := [numClasses]string{"Go runtime", "standard library", "main", "third-party modules", "kernel", "native / cgo"}
	if c.module != "" {
		labels[classModule] = c.module
	}
	var out []legendEntry
	for cl := goClass(0); cl < numClasses; cl++ {
		if c.used[cl] {
			out = append(out, legendEntry{label: labels[cl], color: hueColor(classHue[cl], 0.5, 0, 0)})
		}
	}
	return out
}

type legendEntry struct {
	label string
	color rgb
}

// stdTop is the first element of every standard library import path (Go 1.25).
var stdTop = map[string]bool{
	"archive": true, "bufio": true, "builtin": true, "bytes": true, "cmp": true, "compress": true,
	"container": true, "context": true, "crypto": true, "database": true, "debug": true, "embed": true,
	"encoding": true, "errors": true, "expvar": true, "flag": true, "fmt": true, "go": true, "hash": true,
	"html": true, "image": true, "index": true, "io": true, "iter": true, "log": true, "maps": true,
	"math": true, "mime": true, "net": true, "os": true, "path": true, "plugin": true, "reflect": true,
	"regexp": true, "slices": true, "sort": true, "strconv": true, "strings": true, "structs": true,
	"sync": true, "syscall": true, "testing": true, "text": true, "time": true, "unicode": true,
	"unique": true, "unsafe": true, "weak": true, "vendor": true,
}

// goAsm are the Go runtime's assembly routines that pprof names without a
// package (internal/bytealg and the runtime's write barrier).
var goAsm = map[string]bool{
	"indexbytebody": true, "indexbody": true, "memeqbody": true, "countbody": true, "cmpbody": true,
	"aeshashbody": true, "gcWriteBarrier": true, "memclrNoHeapPointers": true, "memmove": true,
	"gogo": true, "callRet": true, "sigtramp": true, "sigreturn_tramp": true, "usleep2": true,
	"setg_gcc": true, "gosave_systemstack_switch": true,
}

// goPackage splits a Go symbol ("net/http.(*conn).serve",
// "github.com/x/y.F[...]") into its import path; ok is false when name does
// not look like a Go symbol.
func goPackage(name string) (pkg string, ok bool) {
	// The import path ends at the first '.' after the last '/' that comes
	// before any receiver, type argument or space.
	end := len(name)
	if i := strings.IndexAny(name, "([ "); i >= 0 {
		end = i
	}
	slash := strings.LastIndexByte(name[:end], '/')
	dot := strings.IndexByte(name[slash+1:end], '.')
	if dot <= 0 {
		return "", false
	}
	pkg = name[:slash+1+dot]
	for i := 0; i < len(pkg); i++ {
		c := pkg[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '/' || c == '.' || c == '-' || c == '~' || c == '%') {
			return "", false
		}
	}
	rest := name[len(pkg)+1:]
	// GCC's clone suffixes (foo.constprop.0, foo.isra.0, foo.part.1, foo.cold)
	// are C symbols, not Go packages.
	for _, s := range []string{"constprop", "isra", "part", "cold", "lto_priv", "llvm"} {
		if strings.HasPrefix(rest, s) {
			return "", false
		}
	}
	return pkg, rest != ""
}

// classify tells which part of a Go program a frame belongs to.
func classify(name, module string) goClass {
	if strings.HasSuffix(name, "_[k]") || strings.Contains(name, "[kernel.kallsyms]") {
		return classKernel
	}
	name = stripAnnotation(name)
	if strings.HasPrefix(name, "_cgo_") || strings.HasPrefix(name, "x_cgo_") || strings.HasPrefix(name, "[") || strings.Contains(name, "::") {
		return classNative
	}
	pkg, ok := goPackage(name)
	if !ok {
		if goAsm[name] {
			return classRuntime
		}
		return classNative
	}
	top, _, _ := strings.Cut(pkg, "/")
	switch {
	case pkg == "main":
		return classModule
	case module != "" && (pkg == module || strings.HasPrefix(pkg, module+"/")):
		return classModule
	case pkg == "runtime" || strings.HasPrefix(pkg, "runtime/") || top == "internal" || top == "vendor":
		return classRuntime
	case stdTop[top]:
		return classStd
	case strings.Contains(top, ".") || strings.Contains(pkg, "/"):
		return classThirdParty
	}
	return classNative
}

// stripAnnotation removes stackcollapse's _[k] _[w] _[i] _[j] suffix, as
// flamegraph.pl does for titles and labels.
func stripAnnotation(name string) string {
	if n := len(name); n >= 4 && name[n-4] == '_' && name[n-3] == '[' && name[n-1] == ']' {
		switch name[n-2] {
		case 'k', 'w', 'i', 'j':
			return name[:n-4]
		}
	}
	return name
}

// InferModulePath guesses the import path of the user's module from the
// callees of main.* and testing.* frames: the heaviest non-standard package
// called from package main or from the test runner, cut to its module root (three elements on the well-known code
// hosts, else the whole path). It returns "" when main calls no such package.
// Cost: one pass over the profile's tree.
func InferModulePath(p *Profile) string {
	if p == nil || p.nodes == nil {
		return ""
	}
	return inferModulePath(p, p.tree())
}

func inferModulePath(p *Profile, t *tree) string {
	// Callers are frames of package main, or of the testing package (a
	// profile of `go test -cpuprofile` has the tests and benchmarks there);
	// callees are classified once per name, not per node.
	const (
		unknown = iota
		caller
		callee // a third-party-looking package: a module candidate
		other
	)
	kind := make([]uint8, len(p.names))
	kindOf := func(id int32) uint8 {
		if k := kind[id]; k != unknown {
			return k
		}
		name := p.names[id]
		k := uint8(other)
		switch {
		case strings.HasPrefix(name, "main.") || strings.HasPrefix(name, "testing."):
			k = caller
		case classify(name, "") == classThirdParty:
			k = callee
		}
		kind[id] = k
		return k
	}
	weight := map[string]float64{}
	for i := 1; i < len(p.nodes); i++ {
		n := p.nodes[i]
		if n.parent <= 0 || kindOf(p.nodes[n.parent].name) != caller || kindOf(n.name) != callee {
			continue
		}
		pkg, _ := goPackage(p.names[n.name])
		weight[moduleRoot(pkg)] += t.total[i]
	}
	best, bestW := "", -1.0
	for m, w := range weight {
		if w > bestW || w == bestW && m < best {
			best, bestW = m, w
		}
	}
	return best
}

func moduleRoot(pkg string) string {
	parts := strings.Split(pkg, "/")
	switch parts[0] {
	case "github.com", "gitlab.com", "bitbucket.org", "codeberg.org", "gitee.com", "golang.org", "go.googlesource.com":
		if len(parts) >= 3 {
			return strings.Join(parts[:3], "/")
		}
	}
	return pkg
}

// sanitize makes a frame name safe to embed in XML text: invalid UTF-8 and
// control characters (which XML 1.0 forbids) become U+FFFD.
func sanitize(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF) {
			r = '\uFFFD'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func paletteError(name string) error {
	return fmt.Errorf("unknown palette %q (want one of %s)", name, strings.Join(Palettes, ", "))
}
