package gis

import (
	"math"
	"slices"

	"github.com/paulmach/orb"
)

// polyIndex answers "which of these polygons contains p" in a few tens of
// nanoseconds. It is a uniform grid of buckets laid over the layer's
// bounding box, sized to about sixteen buckets per polygon edge.
//
// At build time every polygon edge is rasterised conservatively into the
// buckets it touches (the bucket rectangle is widened by a thousandth of
// its size, so floating-point rounding of a query point into the
// neighbouring bucket cannot matter). A bucket that no edge touches lies
// entirely inside one polygon or entirely outside all of them; its answer
// is precomputed by testing the bucket centre, and a lookup is then one
// multiply-and-load. Only buckets crossed by a boundary keep a short list of
// candidate polygons (those with an edge in the bucket, plus any polygon
// covering it whole); for them the lookup runs the exact strip-indexed test
// of shape.contains on each candidate, so results are always exact and the
// boundary rule of shape holds everywhere. With sixteen buckets per edge
// about one lookup in four or five reaches a boundary bucket.
//
// If polygons overlap (layers that are not a partition), the one that comes
// first in the layer wins, in interior and boundary buckets alike.
type polyIndex struct {
	bound      orb.Bound
	nx, ny     int
	invW, invH float64 // buckets per degree
	// cells[i] ≥ 0 is the polygon covering bucket i, -1 is none, and
	// v ≤ -2 points at candidate list -(v+2).
	cells  []int32
	lstart []int32
	litems []int32
	shapes []*shape
}

const (
	bucketsPerEdge = 16
	minBuckets     = 1 << 10
	maxBuckets     = 1 << 22
)

func newPolyIndex(shapes []*shape) *polyIndex {
	ix := &polyIndex{shapes: shapes}
	if len(shapes) == 0 {
		return ix
	}
	b := shapes[0].bound
	nEdges := 0
	for _, s := range shapes {
		b = b.Union(s.bound)
		nEdges += len(s.edges)
	}
	ix.bound = b
	w, h := b.Max[0]-b.Min[0], b.Max[1]-b.Min[1]
	if w <= 0 || h <= 0 {
		return ix
	}
	target := float64(max(minBuckets, min(maxBuckets, bucketsPerEdge*nEdges)))
	// Square buckets on the ground: a degree of longitude is shorter by cos(lat).
	kx := math.Cos((b.Min[1] + b.Max[1]) / 2 * math.Pi / 180)
	side := math.Sqrt(w * kx * h / target) // in degrees of latitude
	ix.nx = max(1, min(8192, int(math.Ceil(w*kx/side))))
	ix.ny = max(1, min(8192, int(math.Ceil(h/side))))
	ix.invW = float64(ix.nx) / w
	ix.invH = float64(ix.ny) / h
	n := ix.nx * ix.ny

	// Per bucket: candidates (polygons with edges in it) and the first
	// polygon covering it whole.
	cands := make(map[int][]int32)
	cover := make([]int32, n)
	for i := range cover {
		cover[i] = -1
	}
	touched := make([]int32, n) // last polygon id+1 whose edge touched the bucket
	bw, bh := 1/ix.invW, 1/ix.invH
	mx, my := bw*1e-3, bh*1e-3
	for id, s := range shapes {
		id32 := int32(id)
		for _, e := range s.edges {
			ix.rasterise(e.ax, e.ay, e.bx, e.by, bw, bh, mx, my, func(i int) {
				if touched[i] != id32+1 {
					touched[i] = id32 + 1
					cands[i] = append(cands[i], id32)
				}
			})
		}
		// Horizontal edges are never crossed by the test's ray but still
		// split buckets into inside and outside parts.
		for _, he := range s.horiz {
			ix.rasterise(he[0], he[1], he[2], he[1], bw, bh, mx, my, func(i int) {
				if touched[i] != id32+1 {
					touched[i] = id32 + 1
					cands[i] = append(cands[i], id32)
				}
			})
		}
		x0, x1 := ix.col(s.bound.Min[0]), ix.col(s.bound.Max[0])
		y0, y1 := ix.row(s.bound.Min[1]), ix.row(s.bound.Max[1])
		for r := y0; r <= y1; r++ {
			cy := b.Min[1] + (float64(r)+0.5)*bh
			for c := x0; c <= x1; c++ {
				i := r*ix.nx + c
				if touched[i] == id32+1 || cover[i] >= 0 {
					continue
				}
				if s.contains(orb.Point{b.Min[0] + (float64(c)+0.5)*bw, cy}) {
					cover[i] = id32
				}
			}
		}
	}
	ix.cells = make([]int32, n)
	ix.lstart = []int32{0}
	keys := make([]int, 0, len(cands))
	for i := range cands {
		keys = append(keys, i)
	}
	slices.Sort(keys)
	for i := range ix.cells {
		ix.cells[i] = cover[i]
	}
	for _, i := range keys {
		list := cands[i]
		if cover[i] >= 0 && !slices.Contains(list, cover[i]) {
			list = append(list, cover[i])
		}
		slices.Sort(list)
		ix.cells[i] = -2 - int32(len(ix.lstart)-1)
		ix.litems = append(ix.litems, list...)
		ix.lstart = append(ix.lstart, int32(len(ix.litems)))
	}
	return ix
}

func (ix *polyIndex) col(x float64) int {
	return max(0, min(ix.nx-1, int((x-ix.bound.Min[0])*ix.invW)))
}

func (ix *polyIndex) row(y float64) int {
	return max(0, min(ix.ny-1, int((y-ix.bound.Min[1])*ix.invH)))
}

// rasterise calls fn for every bucket whose rectangle, widened by (mx, my),
// the segment (ax, ay)–(bx, by) touches.
func (ix *polyIndex) rasterise(ax, ay, bx, by, bw, bh, mx, my float64, fn func(int)) {
	x0, x1 := ix.col(math.Min(ax, bx)-mx), ix.col(math.Max(ax, bx)+mx)
	y0, y1 := ix.row(math.Min(ay, by)-my), ix.row(math.Max(ay, by)+my)
	small := x1-x0 <= 1 && y1-y0 <= 1
	dx, dy := bx-ax, by-ay
	for r := y0; r <= y1; r++ {
		ry0 := ix.bound.Min[1] + float64(r)*bh - my
		ry1 := ry0 + bh + 2*my
		for c := x0; c <= x1; c++ {
			if !small {
				rx0 := ix.bound.Min[0] + float64(c)*bw - mx
				rx1 := rx0 + bw + 2*mx
				// Separating axis: skip if all four corners are strictly
				// on one side of the segment's line.
				s1 := dx*(ry0-ay) - dy*(rx0-ax)
				s2 := dx*(ry0-ay) - dy*(rx1-ax)
				s3 := dx*(ry1-ay) - dy*(rx0-ax)
				s4 := dx*(ry1-ay) - dy*(rx1-ax)
				if (s1 > 0 && s2 > 0 && s3 > 0 && s4 > 0) || (s1 < 0 && s2 < 0 && s3 < 0 && s4 < 0) {
					continue
				}
			}
			fn(r*ix.nx + c)
		}
	}
}

// lookup returns the index of the polygon containing p, or -1.
func (ix *polyIndex) lookup(p orb.Point) int {
	if ix.cells == nil {
		for i, s := range ix.shapes {
			if s.contains(p) {
				return i
			}
		}
		return -1
	}
	x, y := p[0], p[1]
	if !(x >= ix.bound.Min[0] && x <= ix.bound.Max[0] && y >= ix.bound.Min[1] && y <= ix.bound.Max[1]) {
		return -1 // also rejects NaN
	}
	c := int((x - ix.bound.Min[0]) * ix.invW)
	if c >= ix.nx {
		c = ix.nx - 1
	}
	r := int((y - ix.bound.Min[1]) * ix.invH)
	if r >= ix.ny {
		r = ix.ny - 1
	}
	v := ix.cells[r*ix.nx+c]
	if v >= -1 {
		return int(v)
	}
	l := -(v + 2)
	for _, id := range ix.litems[ix.lstart[l]:ix.lstart[l+1]] {
		if ix.shapes[id].contains(p) {
			return int(id)
		}
	}
	return -1
}
