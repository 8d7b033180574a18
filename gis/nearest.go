package gis

import (
	"cmp"
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// kdTree indexes resources as points on the unit sphere (3-D unit vectors).
// Chord length grows monotonically with great-circle distance, so the k
// nearest by chord are exactly the k nearest on the sphere: no projection,
// no error near the poles or the antimeridian, and a lower bound that is
// exact for pruning. The tree is implicit — the median of each range sits
// in its middle — with ranges of up to leafSize nodes scanned linearly;
// each node is one 32-byte record, so a visit costs one cache line.
type kdTree struct {
	nodes []kdNode
}

type kdNode struct {
	p    [3]float64
	id   int32 // index into City.resources
	axis uint8
}

const leafSize = 8

func unitVec(p orb.Point) [3]float64 {
	lon, lat := p[0]*math.Pi/180, p[1]*math.Pi/180
	cl := math.Cos(lat)
	return [3]float64{cl * math.Cos(lon), cl * math.Sin(lon), math.Sin(lat)}
}

func newKDTree(c *City, ids []int32) *kdTree {
	t := &kdTree{nodes: make([]kdNode, len(ids))}
	for i, id := range ids {
		t.nodes[i] = kdNode{p: unitVec(c.resources[id].Point), id: id}
	}
	var build func(lo, hi int)
	build = func(lo, hi int) {
		if hi-lo <= leafSize {
			return
		}
		var mn, mx [3]float64
		for d := range 3 {
			mn[d], mx[d] = math.Inf(1), math.Inf(-1)
		}
		for _, n := range t.nodes[lo:hi] {
			for d := range 3 {
				mn[d], mx[d] = math.Min(mn[d], n.p[d]), math.Max(mx[d], n.p[d])
			}
		}
		ax := 0
		for d := 1; d < 3; d++ {
			if mx[d]-mn[d] > mx[ax]-mn[ax] {
				ax = d
			}
		}
		slices.SortFunc(t.nodes[lo:hi], func(a, b kdNode) int { return cmp.Or(cmp.Compare(a.p[ax], b.p[ax]), cmp.Compare(a.id, b.id)) })
		mid := (lo + hi) / 2
		t.nodes[mid].axis = uint8(ax)
		build(lo, mid)
		build(mid+1, hi)
	}
	build(0, len(t.nodes))
	return t
}

type cand struct {
	d2 float64
	id int32
}

func offer(best []cand, k int, c cand) []cand {
	if len(best) == k && c.d2 >= best[k-1].d2 {
		return best
	}
	if len(best) < k {
		best = append(best, c)
	} else {
		best[k-1] = c
	}
	for i := len(best) - 1; i > 0 && best[i].d2 < best[i-1].d2; i-- {
		best[i], best[i-1] = best[i-1], best[i]
	}
	return best
}

func dist2(q, p *[3]float64) float64 {
	dx, dy, dz := q[0]-p[0], q[1]-p[1], q[2]-p[2]
	return dx*dx + dy*dy + dz*dz
}

// knn adds to best (kept sorted, at most k long) the nearest points to q.
func (t *kdTree) knn(q *[3]float64, k int, best []cand, lo, hi int) []cand {
	for hi > lo {
		if hi-lo <= leafSize {
			for i := lo; i < hi; i++ {
				n := &t.nodes[i]
				best = offer(best, k, cand{dist2(q, &n.p), n.id})
			}
			return best
		}
		mid := (lo + hi) / 2
		n := &t.nodes[mid]
		best = offer(best, k, cand{dist2(q, &n.p), n.id})
		diff := q[n.axis] - n.p[n.axis]
		nlo, nhi, flo, fhi := lo, mid, mid+1, hi
		if diff >= 0 {
			nlo, nhi, flo, fhi = mid+1, hi, lo, mid
		}
		best = t.knn(q, k, best, nlo, nhi)
		if len(best) == k && diff*diff >= best[k-1].d2 {
			return best
		}
		lo, hi = flo, fhi // tail call on the far side
	}
	return best
}

// within appends every point within chord distance sqrt(r2) of q.
func (t *kdTree) within(q *[3]float64, r2 float64, out []cand, lo, hi int) []cand {
	for hi > lo {
		if hi-lo <= leafSize {
			for i := lo; i < hi; i++ {
				if d2 := dist2(q, &t.nodes[i].p); d2 <= r2 {
					out = append(out, cand{d2, t.nodes[i].id})
				}
			}
			return out
		}
		mid := (lo + hi) / 2
		n := &t.nodes[mid]
		if d2 := dist2(q, &n.p); d2 <= r2 {
			out = append(out, cand{d2, n.id})
		}
		diff := q[n.axis] - n.p[n.axis]
		nlo, nhi, flo, fhi := lo, mid, mid+1, hi
		if diff >= 0 {
			nlo, nhi, flo, fhi = mid+1, hi, lo, mid
		}
		out = t.within(q, r2, out, nlo, nhi)
		if diff*diff > r2 {
			return out
		}
		lo, hi = flo, fhi
	}
	return out
}

func (c *City) buildNearest() {
	byKind := map[string][]int32{}
	all := make([]int32, len(c.resources))
	for i, r := range c.resources {
		all[i] = int32(i)
		byKind[r.Kind] = append(byKind[r.Kind], int32(i))
	}
	c.allKinds = newKDTree(c, all)
	c.kinds = make(map[string]*kdTree, len(byKind))
	for k, ids := range byKind {
		c.kinds[k] = newKDTree(c, ids)
	}
}

func (c *City) tree(kind string) *kdTree {
	if kind == "" {
		return c.allKinds
	}
	return c.kinds[kind]
}

func (c *City) nearby(id int32, from orb.Point) Nearby {
	r := &c.resources[id]
	return Nearby{ID: r.ID, Kind: r.Kind, Name: r.Name, Point: r.Point, DistanceM: geo.Distance(from, r.Point)}
}

// Nearest returns the k resources of the given kind ("" for any kind)
// nearest to p, closest first, with great-circle distances in metres
// (haversine on a sphere of radius orb.EarthRadius, as geo.Distance). It
// returns fewer than k if the city has fewer, and nil for k ≤ 0.
func (c *City) Nearest(p orb.Point, kind string, k int) []Nearby {
	if t := c.tree(kind); k <= 0 || t == nil || len(t.nodes) == 0 {
		return nil
	}
	return c.AppendNearest(make([]Nearby, 0, k), p, kind, k)
}

// AppendNearest is Nearest appending to dst: the enricher's hot path
// gathers several kinds into one slice.
func (c *City) AppendNearest(dst []Nearby, p orb.Point, kind string, k int) []Nearby {
	t := c.tree(kind)
	if k <= 0 || t == nil || len(t.nodes) == 0 {
		return dst
	}
	var buf [16]cand
	q := unitVec(p)
	for _, b := range t.knn(&q, k, buf[:0], 0, len(t.nodes)) {
		dst = append(dst, c.nearby(b.id, p))
	}
	return dst
}

// ResourceKinds lists the kinds of resource the city has, sorted.
func (c *City) ResourceKinds() []string {
	var ks []string
	for k := range c.kinds {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// WithinCircle returns the finest units (grid cells, in a city that has
// them) that come within radiusM metres of centre, in layer order, and the
// resources within radiusM, nearest first with their distances. It serves
// CAP <circle> areas.
func (c *City) WithinCircle(centre orb.Point, radiusM float64) ([]Unit, []Nearby) {
	if radiusM < 0 || math.IsNaN(radiusM) {
		return nil, nil
	}
	// Local metric around the centre: exact enough for warning areas up to
	// a few hundred kilometres.
	ky := earthRadius * math.Pi / 180
	kx := ky * math.Cos(centre[1]*math.Pi/180)
	dLat := radiusM / ky
	dLon := radiusM / math.Max(kx, 1e-9)
	box := orb.Bound{Min: orb.Point{centre[0] - dLon, centre[1] - dLat}, Max: orb.Point{centre[0] + dLon, centre[1] + dLat}}
	var units []Unit
	ld := c.finest()
	for _, ui := range ld {
		u := &c.units[ui]
		if !u.shape.bound.Intersects(box) {
			continue
		}
		if u.shape.contains(centre) || ringsWithin(polygonRings(u.geom), centre, radiusM, kx, ky) {
			units = append(units, u.Unit)
		}
	}
	var res []Nearby
	if t := c.allKinds; t != nil && len(t.nodes) > 0 {
		chord := 2 * math.Sin(math.Min(radiusM/earthRadius, math.Pi)/2)
		q := unitVec(centre)
		found := t.within(&q, chord*chord*(1+1e-9), nil, 0, len(t.nodes))
		for _, f := range found {
			if n := c.nearby(f.id, centre); n.DistanceM <= radiusM {
				res = append(res, n)
			}
		}
		sortNearby(res)
	}
	return units, res
}

func sortNearby(ns []Nearby) {
	slices.SortFunc(ns, func(a, b Nearby) int { return cmp.Or(cmp.Compare(a.DistanceM, b.DistanceM), cmp.Compare(a.ID, b.ID)) })
}

func ringsWithin(rings []orb.Ring, p orb.Point, r, kx, ky float64) bool {
	r2 := r * r
	for _, ring := range rings {
		for i := 0; i+1 < len(ring); i++ {
			a := orb.Point{(ring[i][0] - p[0]) * kx, (ring[i][1] - p[1]) * ky}
			b := orb.Point{(ring[i+1][0] - p[0]) * kx, (ring[i+1][1] - p[1]) * ky}
			if segmentDist2(orb.Point{}, a, b) <= r2 {
				return true
			}
		}
	}
	return false
}

func (c *City) finest() []int {
	for r := len(c.levels) - 1; r >= 0; r-- {
		if len(c.levels[r].units) > 0 {
			return c.levels[r].units
		}
	}
	return nil
}

// Within returns the finest units (grid cells, in a city that has them)
// that overlap area — a Polygon, MultiPolygon, Ring or Bound in WGS-84, such
// as a CAP <polygon> — in layer order, and the resources inside it, with
// their distances in metres from the area's centroid, nearest first. A cell
// that only touches the area along its boundary may be included. Other
// geometry types give nil.
func (c *City) Within(area orb.Geometry) ([]Unit, []Nearby) {
	rings := polygonRings(area)
	if len(rings) == 0 {
		return nil, nil
	}
	for _, r := range rings {
		if len(r) < 4 {
			return nil, nil
		}
	}
	closed := make([]orb.Ring, len(rings))
	for i, r := range rings {
		closed[i] = r
		if r[0] != r[len(r)-1] {
			closed[i] = append(append(orb.Ring(nil), r...), r[0])
		}
	}
	s := newShape(closed)
	var units []Unit
	for _, ui := range c.finest() {
		u := &c.units[ui]
		if !u.shape.bound.Intersects(s.bound) {
			continue
		}
		if overlaps(u, s, closed) {
			units = append(units, u.Unit)
		}
	}
	centre := polygonCentroid(orb.Polygon(closed[:1]))
	if mp, ok := area.(orb.MultiPolygon); ok && len(mp) > 0 {
		var bestA float64
		for _, p := range mp {
			if a := math.Abs(ringArea(p[0])); a > bestA {
				bestA, centre = a, polygonCentroid(p)
			}
		}
	}
	var res []Nearby
	for i := range c.resources {
		r := &c.resources[i]
		if s.contains(r.Point) {
			res = append(res, c.nearby(int32(i), centre))
		}
	}
	sortNearby(res)
	return units, res
}

// overlaps reports whether unit u and the area (shape s, rings) share any
// area: a vertex of one inside the other, or crossing edges.
func overlaps(u *unit, s *shape, rings []orb.Ring) bool {
	urings := polygonRings(u.geom)
	for _, r := range urings {
		for _, v := range r {
			if s.contains(v) {
				return true
			}
		}
	}
	for _, r := range rings {
		for _, v := range r {
			if u.shape.contains(v) {
				return true
			}
		}
	}
	for _, ur := range urings {
		for i := 0; i+1 < len(ur); i++ {
			a, b := ur[i], ur[i+1]
			eb := orb.Bound{Min: orb.Point{math.Min(a[0], b[0]), math.Min(a[1], b[1])}, Max: orb.Point{math.Max(a[0], b[0]), math.Max(a[1], b[1])}}
			if !eb.Intersects(s.bound) {
				continue
			}
			for _, r := range rings {
				for j := 0; j+1 < len(r); j++ {
					c, d := r[j], r[j+1]
					o1, o2 := orient(a, b, c), orient(a, b, d)
					o3, o4 := orient(c, d, a), orient(c, d, b)
					if ((o1 > 0 && o2 < 0) || (o1 < 0 && o2 > 0)) && ((o3 > 0 && o4 < 0) || (o3 < 0 && o4 > 0)) {
						return true
					}
				}
			}
		}
	}
	return false
}
