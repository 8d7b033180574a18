package gis

import (
	"math"

	"github.com/paulmach/orb"
)

// edge is one non-horizontal polygon edge, stored with its lower endpoint
// first (ay < by). Normalising the direction matters: two polygons that
// share an edge traverse it in opposite directions, and the containment
// test must compute bit-for-bit the same cross product for both of them,
// or a point on the shared edge could be inside both or neither.
type edge struct{ ax, ay, bx, by float64 }

// shape is a polygon or multipolygon prepared for fast, exact
// point-in-polygon tests: its non-horizontal edges (of every ring of every
// part, holes included) are bucketed into horizontal strips so that a test
// reads only the edges whose y-range can span the query point.
//
// # Boundary rule
//
// contains uses the half-open crossing rule: a horizontal ray is cast east
// from the point, an edge counts when ay ≤ y < by and the point lies
// strictly west of it. This is equivalent to nudging the query point an
// infinitesimal step east and a smaller one north, so for any set of
// polygons that tile the plane along identical shared edges, every point —
// including points on edges and on vertices — is inside exactly one of
// them: a point on a shared boundary belongs to the polygon to its east,
// and on an east–west boundary to the polygon to its north. Points on the
// outer boundary of a tiling are therefore inside on its west and south
// sides and outside on its east and north sides.
type shape struct {
	bound   orb.Bound
	minY    float64
	invH    float64 // strips per degree
	nStrips int
	start   []int32 // strip s holds edges[start[s]:start[s+1]]
	edges   []edge
	horiz   [][3]float64 // horizontal edges {x0, y, x1}: never crossed, but they bound index buckets
}

func newShape(rings []orb.Ring) *shape {
	s := &shape{bound: orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}}
	var all []edge
	for _, r := range rings {
		for i := 0; i+1 < len(r); i++ {
			a, b := r[i], r[i+1]
			s.bound = s.bound.Extend(a)
			if a[1] == b[1] {
				if a[0] != b[0] {
					s.horiz = append(s.horiz, [3]float64{a[0], a[1], b[0]})
				}
				continue
			}
			if a[1] > b[1] {
				a, b = b, a
			}
			all = append(all, edge{a[0], a[1], b[0], b[1]})
		}
	}
	s.minY = s.bound.Min[1]
	height := s.bound.Max[1] - s.bound.Min[1]
	n := len(all) / 4
	if n < 1 || height <= 0 {
		n = 1
	}
	if n > 4096 {
		n = 4096
	}
	s.nStrips = n
	if height > 0 {
		s.invH = float64(n) / height
	}
	counts := make([]int32, n+1)
	for _, e := range all {
		lo, hi := s.strip(e.ay), s.strip(e.by)
		for k := lo; k <= hi; k++ {
			counts[k+1]++
		}
	}
	for k := 1; k <= n; k++ {
		counts[k] += counts[k-1]
	}
	s.start = counts
	s.edges = make([]edge, counts[n])
	fill := make([]int32, n)
	copy(fill, counts[:n])
	for _, e := range all {
		lo, hi := s.strip(e.ay), s.strip(e.by)
		for k := lo; k <= hi; k++ {
			s.edges[fill[k]] = e
			fill[k]++
		}
	}
	return s
}

// strip returns the strip of latitude y, clamped to the valid range. It is
// monotonic in y, so an edge stored in strips strip(ay)..strip(by) is found
// from any y in [ay, by].
func (s *shape) strip(y float64) int {
	k := int((y - s.minY) * s.invH)
	if k < 0 {
		return 0
	}
	if k >= s.nStrips {
		return s.nStrips - 1
	}
	return k
}

// contains reports whether p is inside the shape under the boundary rule
// documented on shape.
func (s *shape) contains(p orb.Point) bool {
	x, y := p[0], p[1]
	if y < s.bound.Min[1] || y >= s.bound.Max[1] || x < s.bound.Min[0] || x >= s.bound.Max[0] {
		return false
	}
	k := s.strip(y)
	in := false
	for _, e := range s.edges[s.start[k]:s.start[k+1]] {
		if e.ay <= y && y < e.by && (e.bx-e.ax)*(y-e.ay)-(e.by-e.ay)*(x-e.ax) > 0 {
			in = !in
		}
	}
	return in
}

// polygonRings lists every ring of a Polygon or MultiPolygon.
func polygonRings(g orb.Geometry) []orb.Ring {
	switch g := g.(type) {
	case orb.Polygon:
		return g
	case orb.MultiPolygon:
		var rs []orb.Ring
		for _, p := range g {
			rs = append(rs, p...)
		}
		return rs
	case orb.Ring:
		return []orb.Ring{g}
	case orb.Bound:
		return g.ToPolygon()
	}
	return nil
}

// segmentDist2 is the squared planar distance from p to segment ab.
func segmentDist2(p, a, b orb.Point) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	t := 0.0
	if l := dx*dx + dy*dy; l > 0 {
		t = ((p[0]-a[0])*dx + (p[1]-a[1])*dy) / l
		t = math.Max(0, math.Min(1, t))
	}
	ex, ey := a[0]+t*dx-p[0], a[1]+t*dy-p[1]
	return ex*ex + ey*ey
}

// nearBoundary reports whether p is within tol degrees of a ring edge.
func nearBoundary(rings []orb.Ring, p orb.Point, tol float64) bool {
	t2 := tol * tol
	for _, r := range rings {
		for i := 0; i+1 < len(r); i++ {
			a, b := r[i], r[i+1]
			if math.Min(a[0], b[0])-tol > p[0] || math.Max(a[0], b[0])+tol < p[0] ||
				math.Min(a[1], b[1])-tol > p[1] || math.Max(a[1], b[1])+tol < p[1] {
				continue
			}
			if segmentDist2(p, a, b) <= t2 {
				return true
			}
		}
	}
	return false
}

// orient is the sign of the cross product (b−a)×(c−a): >0 when c is left of ab.
func orient(a, b, c orb.Point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

// ringArea is the signed planar area of a ring in square degrees.
func ringArea(r orb.Ring) float64 {
	var s float64
	for i := 0; i+1 < len(r); i++ {
		s += r[i][0]*r[i+1][1] - r[i+1][0]*r[i][1]
	}
	return s / 2
}
