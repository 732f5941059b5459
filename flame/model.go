package flame

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// Profile is the model every reader produces and every writer consumes: call
// stacks, root first, each with a weight (samples, nanoseconds, bytes, ...).
// Identical stacks are merged on Add.
//
// A stack is given in folded form: frame names joined by ';'. Frame names
// therefore never contain ';' (readers replace it).
//
// Internally the stacks are kept as a prefix tree of interned frame names, not
// as strings: real profiles share long prefixes, so a 64 MB folded file of
// 100k deep stacks holds a few MB of tree. Memory is O(distinct tree nodes),
// 32 bytes per node (plus a map entry for children of nodes with more than 8)
// and each distinct frame name once.
type Profile struct {
	// Unit names what a value counts, as flamegraph.pl's --countname:
	// "samples", "nanoseconds", "bytes", ...
	Unit string

	names   []string         // interned frame names, by id
	nameIDs map[string]int32 // name -> id
	nodes   []node           // nodes[0] is the root (the empty stack)
	kids    map[uint64]int32 // parent<<32 | name id -> child, for nodes with many children
	total   float64
	nstacks int

	// base is set only on a differential profile (see Diff): the value each
	// node's own stack had in the base profile. The values above are new's.
	base []float64

	// The path of the last stack added: consecutive stacks usually share a
	// long prefix (stackcollapse output is sorted), so Add only looks up the
	// frames after the common prefix.
	last     []byte
	lastPath []int32 // node per frame of last
	lastEnds []int32 // offset in last of the ';' that ends each frame (len(last) for the leaf)
}

// node is one frame of the prefix tree. Children always have larger indexes
// than their parent, so a reverse scan of nodes visits children first.
type node struct {
	self        float64 // value of the stack that ends at this node
	parent      int32
	name        int32
	firstChild  int32 // 0: none (the root is nobody's child)
	nextSibling int32 // 0: none
	nkids       int32
	hasSelf     bool // the stack ending here was added (possibly with value 0)
}

// NewProfile returns an empty profile whose values count unit.
func NewProfile(unit string) *Profile {
	p := &Profile{Unit: unit}
	p.init()
	return p
}

func (p *Profile) init() {
	if p.nodes != nil {
		return
	}
	p.nameIDs = make(map[string]int32)
	p.kids = make(map[uint64]int32)
	p.nodes = []node{{parent: -1, name: -1}}
}

// Add adds value to the stack given in folded form (frames joined by ';', root first).
// The empty stack is allowed: its value counts in Total but belongs to no frame.
// Cost: a byte comparison with the previous stack added, then a sibling-list
// scan (or one map lookup for wide nodes) per frame not shared with it.
func (p *Profile) Add(stack string, value float64) {
	p.addBytes(unsafeBytes(stack), value)
}

// addBytes is Add for a byte slice; stack is not retained.
func (p *Profile) addBytes(stack []byte, value float64) {
	p.init()
	n := p.lookup(stack)
	nd := &p.nodes[n]
	if !nd.hasSelf {
		nd.hasSelf = true
		p.nstacks++
	}
	nd.self += value
	p.total += value
}

// lookup returns the node of stack, creating it and its ancestors.
func (p *Profile) lookup(stack []byte) int32 {
	if len(stack) == 0 {
		return 0
	}
	common := commonPrefix(stack, p.last)
	if common == len(stack) && common == len(p.last) {
		return p.lastPath[len(p.lastPath)-1]
	}
	// Frames fully shared with the previous stack: those whose terminating
	// ';' lies inside the common prefix (lastEnds is sorted).
	shared, _ := slices.BinarySearch(p.lastEnds, int32(common))
	if shared < len(p.lastEnds) && int(p.lastEnds[shared]) == common {
		// A frame of last ends right where the common prefix does.
		if common == len(stack) {
			// stack is a prefix of last, up to that frame: its leaf.
			p.lastPath = p.lastPath[:shared+1]
			p.lastEnds = p.lastEnds[:shared+1]
			p.last = append(p.last[:common], stack[common:]...) // the rest is equal already
			return p.lastPath[shared]
		}
		if stack[common] == ';' {
			shared++ // last is a prefix of stack, up to its leaf
		}
	}
	p.lastPath = p.lastPath[:shared]
	p.lastEnds = p.lastEnds[:shared]
	p.last = append(p.last[:common], stack[common:]...) // the rest is equal already
	cur := int32(0)
	pos := 0
	if shared > 0 {
		cur = p.lastPath[shared-1]
		pos = int(p.lastEnds[shared-1]) + 1
	}
	for {
		i := bytes.IndexByte(stack[pos:], ';')
		end := len(stack)
		if i >= 0 {
			end = pos + i
		}
		cur = p.child(cur, stack[pos:end])
		p.lastPath = append(p.lastPath, cur)
		p.lastEnds = append(p.lastEnds, int32(end))
		if i < 0 {
			break
		}
		pos = end + 1
	}
	return cur
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	// Compare 8 bytes at a time: the common prefix of deep stacks is long.
	for i+8 <= n {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// smallFanout is how many children a node keeps in its sibling list before
// they are indexed in the kids map. Most frames have one or two callees, so
// most lookups compare a few int32s and touch no map.
const smallFanout = 8

// child returns the child of parent named name, creating it.
func (p *Profile) child(parent int32, name []byte) int32 {
	id, ok := p.nameIDs[string(name)]
	if !ok {
		id = int32(len(p.names))
		s := string(name)
		p.names = append(p.names, s)
		p.nameIDs[s] = id
	}
	pn := &p.nodes[parent]
	key := uint64(uint32(parent))<<32 | uint64(uint32(id))
	if pn.nkids <= smallFanout {
		for c := pn.firstChild; c != 0; c = p.nodes[c].nextSibling {
			if p.nodes[c].name == id {
				return c
			}
		}
	} else if c, ok := p.kids[key]; ok {
		return c
	}
	c := int32(len(p.nodes))
	if len(p.nodes) == cap(p.nodes) {
		// Double: append grows large slices by only 1.25x, which copies a
		// big tree four times over while it grows.
		p.nodes = append(make([]node, 0, 2*cap(p.nodes)+1024), p.nodes...)
	}
	p.nodes = append(p.nodes, node{parent: parent, name: id, nextSibling: p.nodes[parent].firstChild})
	pn = &p.nodes[parent]
	pn.firstChild = c
	pn.nkids++
	switch {
	case pn.nkids == smallFanout+1:
		for k := pn.firstChild; k != 0; k = p.nodes[k].nextSibling {
			p.kids[uint64(uint32(parent))<<32|uint64(uint32(p.nodes[k].name))] = k
		}
	case pn.nkids > smallFanout+1:
		p.kids[key] = c
	}
	return c
}

// Len is the number of distinct stacks.
func (p *Profile) Len() int { return p.nstacks }

// Total is the sum of all values.
func (p *Profile) Total() float64 { return p.total }

// Each calls fn for every distinct stack in byte order of the folded stack,
// the order stackcollapse-perf.pl prints and flamegraph.pl lays frames out in.
// Cost: O(nodes) plus sorting each node's children; the stack string passed to
// fn is built in a reused buffer and is valid only during the call.
func (p *Profile) Each(fn func(stack string, value float64)) {
	if p.nodes == nil {
		return
	}
	p.eachNode(p.tree(), 0, func(stack string, n int32) { fn(stack, p.nodes[n].self) })
}

// eachNode calls fn for every node that ends a stack, in the order of the
// stacks' lines: term is the byte that follows a stack in a line (0: none).
// It walks iteratively, so a stack a million frames deep is fine.
func (p *Profile) eachNode(t *tree, term byte, fn func(stack string, n int32)) {
	if p.nodes[0].hasSelf {
		fn("", 0)
	}
	type level struct {
		keys []key
		mark int // len(buf) before this level's names
	}
	var buf []byte
	stack := []level{{keys: t.sortedKeys(0, term)}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if len(top.keys) == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		k := top.keys[0]
		top.keys = top.keys[1:]
		buf = buf[:top.mark]
		if len(stack) > 1 {
			buf = append(buf, ';')
		}
		buf = append(buf, p.names[p.nodes[k.node].name]...)
		if k.sub {
			stack = append(stack, level{keys: t.sortedKeys(k.node, term), mark: len(buf)})
		} else {
			fn(unsafeString(buf), k.node)
		}
	}
}

// tree is the child index of a profile, built on demand for traversals.
type tree struct {
	p     *Profile
	start []int32 // children of n are kids[start[n]:start[n+1]]
	kids  []int32
	total []float64 // value of each node including its descendants
}

func (p *Profile) tree() *tree {
	n := len(p.nodes)
	t := &tree{p: p, start: make([]int32, n+1), kids: make([]int32, max(n-1, 0)), total: make([]float64, n)}
	for i := 1; i < n; i++ {
		t.start[p.nodes[i].parent+1]++
	}
	for i := 1; i <= n; i++ {
		t.start[i] += t.start[i-1]
	}
	fill := slices.Clone(t.start[:n])
	for i := 1; i < n; i++ {
		par := p.nodes[i].parent
		t.kids[fill[par]] = int32(i)
		fill[par]++
	}
	for i := n - 1; i >= 0; i-- {
		t.total[i] += p.nodes[i].self
		if i > 0 {
			t.total[p.nodes[i].parent] += t.total[i]
		}
	}
	return t
}

func (t *tree) children(n int32) []int32 { return t.kids[t.start[n]:t.start[n+1]] }

// key is one block of lines in sorted folded order below a node: the stack
// ending at child node (sub false) or the stacks passing through it (sub true).
type key struct {
	node int32
	sub  bool
}

// sortedKeys returns the blocks below n in the byte order of their lines.
// term is the byte that follows a stack that ends at a frame: 0 for the
// folded stack alone (Each), ' ' for a folded line "stack count" (the order
// flamegraph.pl sorts lines in).
func (t *tree) sortedKeys(n int32, term byte) []key {
	kids := t.children(n)
	keys := make([]key, 0, len(kids)+len(kids)/2)
	for _, c := range kids {
		if t.p.nodes[c].hasSelf {
			keys = append(keys, key{node: c})
		}
		if t.start[c+1] > t.start[c] {
			keys = append(keys, key{node: c, sub: true})
		}
	}
	t.sortKeys(keys, term)
	return keys
}

func (t *tree) sortKeys(keys []key, term byte) {
	slices.SortFunc(keys, func(a, b key) int { return t.compareKeys(a, b, term) })
}

// compareKeys compares name(a)+suffix(a) with name(b)+suffix(b) as byte
// strings, where the suffix is ";" for a subtree block and term for a stack end
// (an empty suffix when term is 0).
func (t *tree) compareKeys(a, b key, term byte) int {
	na, nb := t.p.names[t.p.nodes[a.node].name], t.p.names[t.p.nodes[b.node].name]
	if c := strings.Compare(na, nb); c != 0 && !strings.HasPrefix(na, nb) && !strings.HasPrefix(nb, na) {
		return c
	}
	// One name is a prefix of the other (or they are equal): the suffix byte
	// decides against the next byte of the longer name.
	sa, sb := suffix(a, term), suffix(b, term)
	switch {
	case len(na) == len(nb):
		return cmpInt(sa, sb)
	case len(na) < len(nb):
		if c := cmpInt(sa, int(nb[len(na)])); c != 0 {
			return c
		}
		return -1 // equal byte: a's line continues after its suffix; only possible with term ' ' and a name containing ' '
	default:
		if c := cmpInt(int(na[len(nb)]), sb); c != 0 {
			return c
		}
		return 1
	}
}

// suffix is the byte that follows the name in a key's lines; -1 means none
// (the line ends), which sorts before every byte.
func suffix(k key, term byte) int {
	if k.sub {
		return ';'
	}
	if term == 0 {
		return -1
	}
	return int(term)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ParseError is a reader's complaint about its input. Its text names the
// operation, and the line where there is one:
// "parsing folded stacks: line 12: missing count".
type ParseError struct {
	Format string // "folded stacks", "perf script", "pprof profile"
	Line   int    // 1-based; 0 when the input has no lines (pprof) or the error is about the whole input
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("parsing %s: line %d: %s", e.Format, e.Line, e.Msg)
	}
	return fmt.Sprintf("parsing %s: %s", e.Format, e.Msg)
}
