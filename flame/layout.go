package flame

import "sort"

// A laidFrame is one box of the flame graph: a maximal run of consecutive
// sorted stacks that share the frames from the root to this one, exactly as
// flamegraph.pl's flow() merges them.
type laidFrame struct {
	node         int32 // the tree node whose name this frame shows (0: the root "all")
	depth        int32
	stime, etime float64 // in count units, from the left edge
	delta        float64 // differential profiles: new-base of the stacks ending here
}

// layout computes the frames flamegraph.pl draws for p, leaving out frames
// narrower than minTime (in count units), in depth-first order.
//
// flamegraph.pl sorts the folded lines ("stack count") as strings and merges a
// frame only with the same frame of the preceding line, so a name can appear
// twice among siblings: "a 5" < "a-b 2" < "a;b 3" draws a, a-b, a. The tree
// keeps each node's own stack and the stacks below it as two sort keys
// (name+" " and name+";") to reproduce that order without sorting lines.
//
// Cost: O(nodes) to index the tree, then sorting only the children of frames
// wide enough to draw; children too narrow to draw are placed by binary search
// (they still shift their right siblings and can split a frame in two).
func layout(p *Profile, t *tree, minTime float64) []laidFrame {
	total := p.total
	frames := []laidFrame{{node: 0, depth: 0, stime: 0, etime: total}}
	type expand struct {
		node  int32
		depth int32
		start float64
	}
	var todo []expand
	rootStart := 0.0
	if p.nodes[0].hasSelf {
		rootStart = p.nodes[0].self
	}
	todo = append(todo, expand{0, 0, rootStart})
	var big []key
	var gapVal []float64
	var gapN []int32
	var out []group
	for len(todo) > 0 {
		e := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		big = big[:0]
		kids := t.children(e.node)
		small := 0
		for _, c := range kids {
			if t.total[c] < minTime {
				small++
				continue
			}
			if p.nodes[c].hasSelf {
				big = append(big, key{node: c})
			}
			if t.start[c+1] > t.start[c] {
				big = append(big, key{node: c, sub: true})
			}
		}
		if len(big) == 0 {
			continue
		}
		t.sortKeys(big, ' ')
		gapVal = append(gapVal[:0], make([]float64, len(big)+1)...)
		gapN = append(gapN[:0], make([]int32, len(big)+1)...)
		if small > 0 {
			for _, c := range kids {
				if t.total[c] >= minTime {
					continue
				}
				place := func(k key, v float64) {
					i := sort.Search(len(big), func(i int) bool { return t.compareKeys(big[i], k, ' ') > 0 })
					gapVal[i] += v
					gapN[i]++
				}
				if p.nodes[c].hasSelf {
					place(key{node: c}, p.nodes[c].self)
				}
				if t.start[c+1] > t.start[c] {
					place(key{node: c, sub: true}, t.total[c]-p.nodes[c].self)
				}
			}
		}
		// Group consecutive keys of the same node into one frame.
		out = out[:0]
		cur := e.start
		open := -1 // index in out of the frame the previous key belongs to
		for i, k := range big {
			cur += gapVal[i]
			v := p.nodes[k.node].self
			if k.sub {
				v = t.total[k.node] - v
			}
			if open >= 0 && out[open].node == k.node && gapN[i] == 0 {
				out[open].etime += v
				out[open].sub = true // a self key always sorts first
				cur += v
				continue
			}
			f := group{laidFrame: laidFrame{node: k.node, depth: e.depth + 1, stime: cur, etime: cur + v}, self: !k.sub, sub: k.sub}
			if !k.sub && p.base != nil {
				f.delta = p.nodes[k.node].self - p.baseValue(k.node)
			}
			out = append(out, f)
			open = len(out) - 1
			cur += v
		}
		// Keep the frames wide enough; queue their children with the leftmost
		// on top of the work stack.
		for _, g := range out {
			if g.etime-g.stime >= minTime {
				frames = append(frames, g.laidFrame)
			}
		}
		for i := len(out) - 1; i >= 0; i-- {
			g := out[i]
			if !g.sub || g.etime-g.stime < minTime {
				continue
			}
			start := g.stime
			if g.self {
				start += p.nodes[g.node].self
			}
			todo = append(todo, expand{g.node, g.depth, start})
		}
	}
	return frames
}

// group is a frame being laid out, with which of its node's two sort keys it covers.
type group struct {
	laidFrame
	self, sub bool
}

// maxDelta is flamegraph.pl's $maxdelta: the largest |new-base| of a stack, at least 1.
func maxDelta(p *Profile) float64 {
	m := 1.0
	if p.base == nil {
		return m
	}
	for i := range p.nodes {
		if !p.nodes[i].hasSelf {
			continue
		}
		d := p.nodes[i].self - p.baseValue(int32(i))
		if d < 0 {
			d = -d
		}
		if d > m {
			m = d
		}
	}
	return m
}

// baseValue is the base value of node n's own stack in a differential profile.
func (p *Profile) baseValue(n int32) float64 {
	if int(n) < len(p.base) {
		return p.base[n]
	}
	return 0
}
