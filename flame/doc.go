// Package flame is hotloop's profile model and its flame graph renderer.
//
// The model (Profile) is a set of call stacks with weights, built from pprof
// protobuf, folded stacks (Brendan Gregg's "a;b;c 12") or `perf script` text.
// Readers build a Profile; writers turn one into folded text or an SVG flame
// graph; Diff compares two. The model knows nothing of SVG, and the renderer
// knows nothing of input formats.
//
// All functions are safe for concurrent use on distinct values; a Profile is
// not safe for concurrent mutation.
package flame
