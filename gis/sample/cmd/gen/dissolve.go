package main

import (
	"cmp"
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// dissolve returns the union of cells as polygons (outer ring then holes,
// vertex ids, counter-clockwise outer rings). Because neighbouring cells
// share identical vertices, an interior edge appears twice in opposite
// directions and cancels; the edges left over are the union's boundary.
// Where the boundary touches itself at a vertex, the tracing turns as
// sharply right as it can, which splits the boundary into simple rings
// that touch at that point.
func (g *genCity) dissolve(cells []*gGrid) [][][]int {
	count := map[[2]int]int{}
	for _, c := range cells {
		for _, r := range c.rings {
			for i := range r {
				u, v := r[i], r[(i+1)%len(r)]
				if count[[2]int{v, u}] > 0 {
					count[[2]int{v, u}]--
				} else {
					count[[2]int{u, v}]++
				}
			}
		}
	}
	out := map[int][]int{}
	var edges [][2]int
	for e, n := range count {
		if n > 0 {
			out[e[0]] = append(out[e[0]], e[1])
			edges = append(edges, e)
		}
	}
	slices.SortFunc(edges, func(a, b [2]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for k := range out {
		slices.Sort(out[k])
	}
	used := map[[2]int]bool{}
	var shells, holes [][]int
	for _, e := range edges {
		if used[e] {
			continue
		}
		r := []int{e[0]}
		used[e] = true
		prev, cur := e[0], e[1]
		for cur != e[0] {
			r = append(r, cur)
			// Among unused outgoing edges pick the first clockwise from the
			// way back.
			back := g.angle(cur, prev)
			best, bestTurn := -1, math.Inf(1)
			for _, nx := range out[cur] {
				if used[[2]int{cur, nx}] {
					continue
				}
				turn := back - g.angle(cur, nx)
				for turn <= 0 {
					turn += 2 * math.Pi
				}
				if turn < bestTurn {
					best, bestTurn = nx, turn
				}
			}
			if best < 0 {
				break // open chain: cannot happen for a union of closed rings
			}
			used[[2]int{cur, best}] = true
			prev, cur = cur, best
		}
		if g.idArea(r) > 0 {
			shells = append(shells, r)
		} else {
			holes = append(holes, r)
		}
	}
	polys := make([][][]int, len(shells))
	for i, s := range shells {
		polys[i] = [][]int{s}
	}
	for _, h := range holes {
		for i, s := range shells {
			if g.holeIn(h, s) {
				polys[i] = append(polys[i], h)
				break
			}
		}
	}
	// Largest part first.
	slices.SortStableFunc(polys, func(a, b [][]int) int { return cmp.Compare(g.idArea(b[0]), g.idArea(a[0])) })
	return polys
}

func (g *genCity) angle(from, to int) float64 {
	a, b := g.verts[from], g.verts[to]
	return math.Atan2(b[1]-a[1], (b[0]-a[0])*math.Cos(a[1]*math.Pi/180))
}

func (g *genCity) idArea(r []int) float64 {
	var s float64
	for i := range r {
		a, b := g.verts[r[i]], g.verts[r[(i+1)%len(r)]]
		s += a[0]*b[1] - b[0]*a[1]
	}
	return s / 2
}

func (g *genCity) ring(r []int) orb.Ring {
	out := make(orb.Ring, 0, len(r)+1)
	for _, id := range r {
		out = append(out, g.verts[id])
	}
	return append(out, g.verts[r[0]])
}

// holeIn reports whether hole h lies in shell s: some vertex of h that is
// not on s is inside it.
func (g *genCity) holeIn(h, s []int) bool {
	rs := g.ring(s)
	for _, id := range h {
		if slices.Contains(s, id) {
			continue
		}
		return planar.RingContains(rs, g.verts[id])
	}
	return false
}

func (g *genCity) multiPolygon(polys [][][]int) orb.MultiPolygon {
	var mp orb.MultiPolygon
	for _, p := range polys {
		var poly orb.Polygon
		for _, r := range p {
			poly = append(poly, g.ring(r))
		}
		mp = append(mp, poly)
	}
	return mp
}
