// Package flame is hotloop's profile model and its flame graph renderer.
//
// The model (Profile) is a set of call stacks with weights, built from pprof
// protobuf, folded stacks (Brendan Gregg's "a;b;c 12") or `perf script` text.
// Readers build a Profile; writers turn one into folded text or an SVG flame
// graph; Diff compares two. The model knows nothing of SVG, and the renderer
// knows nothing of input formats.
//
// A Profile is a prefix tree of interned frame names, so memory grows with
// the distinct frames of a profile, not with its input: ReadFolded streams a
// 64 MB folded file into a tree of a few MB.
//
// WriteSVG draws what flamegraph.pl draws at the same options (the same x, y
// and width of every frame, its sibling order and its pruning of frames under
// MinWidth), so graphs can be compared with the ones people already have, and
// adds a Go-aware palette (runtime, standard library, your module,
// third-party modules, kernel and native frames) with a legend. Its output is
// byte-identical across runs for the same input and options.
//
// All functions are safe for concurrent use on distinct values; a Profile is
// not safe for concurrent mutation.
package flame
