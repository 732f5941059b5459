package traceanalysis

import (
	"strings"

	"github.com/hotloop/hotloop/inspect"
	"golang.org/x/exp/trace"
)

// stackID names an interned stack; 0 is "no stack".
type stackID uint32

// frameID names an interned frame; frames are 1-based, 0 is unused.
type frameID uint32

type frameKey struct {
	pc   uint64
	fn   string
	file string
	line uint64
}

// frameInfo is one interned frame with what the analysis needs to know about it
// computed once: whether it is user code (not runtime or standard library).
type frameInfo struct {
	frameKey
	user bool
}

// stackTable interns the trace's stacks into our own IDs.
//
// Why not keep trace.Stack handles: a handle points into its generation's
// tables, so holding one keeps a whole generation alive. The handle cache is
// therefore per generation (cleared at every Sync event) and everything kept
// across generations is our own compact form: a stack is a slice of frame IDs,
// leaf first, deduplicated by content. The number of distinct stacks is capped
// (maxStacks); stacks past the cap are all folded into one "[stacks truncated]"
// stack, so memory stays bounded on any input.
type stackTable struct {
	maxStacks int
	maxDepth  int

	byHandle   map[trace.Stack]stackID // this generation only
	lastHandle trace.Stack             // one-entry cache in front of byHandle
	lastID     stackID
	byKey      map[string]stackID
	stacks     [][]frameID // index stackID
	userTop    []frameID   // index stackID: first user-code frame from the leaf, or the leaf
	frames     []frameInfo // index frameID
	byFrame    map[frameKey]frameID

	overflow stackID
	keyBuf   []byte
	idBuf    []frameID
}

func newStackTable(maxStacks, maxDepth int) *stackTable {
	t := &stackTable{
		maxStacks: maxStacks,
		maxDepth:  maxDepth,
		byHandle:  make(map[trace.Stack]stackID),
		byKey:     make(map[string]stackID),
		stacks:    [][]frameID{nil},
		userTop:   []frameID{0},
		frames:    []frameInfo{{}},
		byFrame:   make(map[frameKey]frameID),
	}
	return t
}

// newGeneration forgets the trace.Stack handles of the previous generation.
func (t *stackTable) newGeneration() {
	clear(t.byHandle)
	t.lastHandle, t.lastID = trace.NoStack, 0
}

// intern returns the ID of s; NoStack is 0.
func (t *stackTable) intern(s trace.Stack) stackID {
	if s == trace.NoStack {
		return 0
	}
	if s == t.lastHandle {
		return t.lastID
	}
	if id, ok := t.byHandle[s]; ok {
		t.lastHandle, t.lastID = s, id
		return id
	}
	ids := t.idBuf[:0]
	for f := range s.Frames() {
		if len(ids) == t.maxDepth {
			break
		}
		ids = append(ids, t.frame(frameKey{pc: f.PC, fn: f.Func, file: f.File, line: f.Line}))
	}
	t.idBuf = ids
	id := t.internIDs(ids)
	t.byHandle[s] = id
	t.lastHandle, t.lastID = s, id
	return id
}

// internIDs interns a stack given as frame IDs, leaf first.
func (t *stackTable) internIDs(ids []frameID) stackID {
	if len(ids) == 0 {
		return 0
	}
	key := t.keyBuf[:0]
	for _, f := range ids {
		key = append(key, byte(f), byte(f>>8), byte(f>>16), byte(f>>24))
	}
	t.keyBuf = key
	if id, ok := t.byKey[string(key)]; ok {
		return id
	}
	if len(t.stacks) > t.maxStacks {
		return t.overflowStack()
	}
	id := stackID(len(t.stacks))
	t.stacks = append(t.stacks, append([]frameID(nil), ids...))
	// The frame to blame: the first user-code frame from the leaf; in a
	// stack of only runtime and standard library code, the first frame
	// outside the runtime (net/http.(*conn).serve rather than runtime.gopark).
	top := ids[0]
	for _, f := range ids {
		if t.frames[f].user {
			top = f
			break
		}
	}
	if !t.frames[top].user {
		for _, f := range ids {
			if !isRuntimeFunc(t.frames[f].fn) {
				top = f
				break
			}
		}
	}
	t.userTop = append(t.userTop, top)
	t.byKey[string(key)] = id
	return id
}

func (t *stackTable) overflowStack() stackID {
	if t.overflow == 0 {
		f := t.frame(frameKey{fn: "[stacks truncated]"})
		t.overflow = stackID(len(t.stacks))
		t.stacks = append(t.stacks, []frameID{f})
		t.userTop = append(t.userTop, f)
	}
	return t.overflow
}

// frame interns one frame. Frames come from the trace's own tables, so their
// number is bounded by the traced program's code; a hostile trace could hold
// many, but no more than its size.
func (t *stackTable) frame(k frameKey) frameID {
	if id, ok := t.byFrame[k]; ok {
		return id
	}
	id := frameID(len(t.frames))
	t.frames = append(t.frames, frameInfo{frameKey: k, user: isUserFunc(k.fn)})
	t.byFrame[k] = id
	return id
}

// synthetic returns a one-frame stack for a name that is not code, such as a
// wait reason or a goroutine's entry function.
func (t *stackTable) syntheticFrame(name string) frameID {
	return t.frame(frameKey{fn: name})
}

func (t *stackTable) inspectFrame(f frameID) inspect.Frame {
	fi := t.frames[f]
	return inspect.Frame{Function: fi.fn, File: fi.file, Line: int(fi.line)}
}

// forcesGC reports whether stack s is a call to runtime.GC (directly or by
// runtime/debug.FreeOSMemory).
func (t *stackTable) forcesGC(s stackID) bool {
	for _, f := range t.stacks[s] {
		if fn := t.frames[f].fn; fn == "runtime.GC" || fn == "runtime/debug.FreeOSMemory" {
			return true
		}
	}
	return false
}

// inspectStack returns up to max frames of s, leaf first.
func (t *stackTable) inspectStack(s stackID, max int) []inspect.Frame {
	ids := t.stacks[s]
	if len(ids) > max {
		ids = ids[:max]
	}
	out := make([]inspect.Frame, 0, len(ids))
	for _, f := range ids {
		out = append(out, t.inspectFrame(f))
	}
	return out
}

// hasFunc reports whether any frame of s is the function fn.
func (t *stackTable) hasFunc(s stackID, fn string) bool {
	for _, f := range t.stacks[s] {
		if t.frames[f].fn == fn {
			return true
		}
	}
	return false
}

// hasFuncPrefix reports whether any frame of s is a function whose name
// starts with prefix.
func (t *stackTable) hasFuncPrefix(s stackID, prefix string) bool {
	for _, f := range t.stacks[s] {
		if strings.HasPrefix(t.frames[f].fn, prefix) {
			return true
		}
	}
	return false
}

// isUserFunc reports whether fn (as the runtime spells it: "pkg/path.(*T).M")
// belongs to user code rather than the runtime or the standard library. The
// standard library is recognised the way the go command does: its import
// paths have no dot in their first element. "main" is user code.
func isUserFunc(fn string) bool {
	if fn == "" || fn[0] == '[' {
		return false
	}
	pkg := funcPackage(fn)
	if pkg == "main" || pkg == "command-line-arguments" {
		return true
	}
	first, _, _ := strings.Cut(pkg, "/")
	return strings.Contains(first, ".")
}

// isRuntimeFunc reports whether fn belongs to the runtime or an internal
// package of the standard library.
func isRuntimeFunc(fn string) bool {
	pkg := funcPackage(fn)
	return pkg == "runtime" || strings.HasPrefix(pkg, "runtime/") || strings.HasPrefix(pkg, "internal/") || fn == "" || fn[0] == '['
}

// funcPackage returns the import path part of a function name.
func funcPackage(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	rest := fn[slash+1:]
	dot := strings.IndexByte(rest, '.')
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}
