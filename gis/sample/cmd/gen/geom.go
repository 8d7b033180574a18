package main

import (
	"math"
	"slices"
)

// xy is a point in the generator's local plane: metres east and north of
// the district's centre (an equirectangular projection, exact to invert).
type xy struct{ X, Y float64 }

func (a xy) sub(b xy) xy         { return xy{a.X - b.X, a.Y - b.Y} }
func (a xy) add(b xy) xy         { return xy{a.X + b.X, a.Y + b.Y} }
func (a xy) scale(k float64) xy  { return xy{a.X * k, a.Y * k} }
func (a xy) dot(b xy) float64    { return a.X*b.X + a.Y*b.Y }
func (a xy) cross(b xy) float64  { return a.X*b.Y - a.Y*b.X }
func (a xy) dist2(b xy) float64  { d := a.sub(b); return d.dot(d) }
func (a xy) dist(b xy) float64   { return math.Sqrt(a.dist2(b)) }
func lerp(a, b xy, t float64) xy { return xy{a.X + (b.X-a.X)*t, a.Y + (b.Y-a.Y)*t} }

// ring is a simple polygon ring, counter-clockwise, without the closing
// repeat of its first vertex.
type ring []xy

func (r ring) area() float64 {
	var s float64
	for i := range r {
		j := (i + 1) % len(r)
		s += r[i].X*r[j].Y - r[j].X*r[i].Y
	}
	return s / 2
}

func (r ring) contains(p xy) bool {
	in := false
	for i := range r {
		a, b := r[i], r[(i+1)%len(r)]
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < a.X+(p.Y-a.Y)*(b.X-a.X)/(b.Y-a.Y) {
			in = !in
		}
	}
	return in
}

// halfPlane is {p : A*p.X + B*p.Y + C >= 0}.
type halfPlane struct{ A, B, C float64 }

func (h halfPlane) f(p xy) float64 { return h.A*p.X + h.B*p.Y + h.C }
func (h halfPlane) neg() halfPlane { return halfPlane{-h.A, -h.B, -h.C} }

// bisector is the half-plane of points at least as close (in power
// distance |p−s|² − w) to site i as to site j. It is computed from the
// pair in a canonical order so that the two neighbours get exactly
// negated coefficients.
func bisector(si, sj xy, wi, wj float64, i, j int) halfPlane {
	if i > j {
		return bisector(sj, si, wj, wi, j, i).neg()
	}
	// |p−si|² − wi ≤ |p−sj|² − wj  ⇔  2(si−sj)·p − |si|² + |sj|² + wi − wj ≥ 0
	n := si.sub(sj).scale(2)
	return halfPlane{n.X, n.Y, -si.dot(si) + sj.dot(sj) + wi - wj}
}

// clipConvex clips a convex polygon by a half-plane (Sutherland–Hodgman,
// exact for convex input).
func clipConvex(poly ring, h halfPlane) ring {
	var out ring
	for i := range poly {
		a, b := poly[i], poly[(i+1)%len(poly)]
		fa, fb := h.f(a), h.f(b)
		if fa >= 0 {
			out = append(out, a)
		}
		if (fa >= 0) != (fb >= 0) {
			out = append(out, lerp(a, b, fa/(fa-fb)))
		}
	}
	return out
}

// clipHalf clips a simple counter-clockwise ring, convex or not, by a
// half-plane and returns the pieces that remain, each a simple
// counter-clockwise ring. Where the ring crosses the line several times the
// pieces are rebuilt by walking the line: each exit crossing is joined to
// the next entry crossing along the line's direction (the direction that
// keeps the half-plane on the left).
func clipHalf(r ring, h halfPlane) []ring {
	n := len(r)
	f := make([]float64, n)
	start, allIn := -1, true
	for i, p := range r {
		f[i] = h.f(p)
		if f[i] < 0 {
			allIn = false
			if start < 0 {
				start = i
			}
		}
	}
	if allIn {
		return []ring{r}
	}
	type chain struct {
		pts       ring
		tIn, tOut float64
		next      int
	}
	d := xy{h.B, -h.A} // the half-plane is on the left of d
	var chains []chain
	var cur *chain
	for k := 0; k < n; k++ {
		i := (start + k) % n
		j := (i + 1) % n
		in, inNext := f[i] >= 0, f[j] >= 0
		if in {
			cur.pts = append(cur.pts, r[i])
		}
		if in != inNext {
			x := lerp(r[i], r[j], f[i]/(f[i]-f[j]))
			if inNext { // entering
				chains = append(chains, chain{pts: ring{x}, tIn: d.dot(x)})
				cur = &chains[len(chains)-1]
			} else {
				cur.pts = append(cur.pts, x)
				cur.tOut = d.dot(x)
			}
		}
	}
	if len(chains) == 0 {
		return nil
	}
	order := make([]int, len(chains))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpF(chains[a].tIn, chains[b].tIn) })
	for k := range chains {
		// The first entry at or beyond this chain's exit along d.
		best := -1
		for _, o := range order {
			if chains[o].tIn >= chains[k].tOut {
				best = o
				break
			}
		}
		if best < 0 {
			best = order[len(order)-1]
		}
		chains[k].next = best
	}
	var out []ring
	seen := make([]bool, len(chains))
	for k := range chains {
		if seen[k] {
			continue
		}
		var rr ring
		for j := k; !seen[j]; j = chains[j].next {
			seen[j] = true
			rr = append(rr, chains[j].pts...)
		}
		rr = dedupe(rr)
		if len(rr) >= 3 && rr.area() > 1 { // drop slivers under 1 m²
			out = append(out, rr)
		}
	}
	return out
}

func dedupe(r ring) ring {
	out := r[:0:0]
	for _, p := range r {
		if len(out) > 0 && out[len(out)-1] == p {
			continue
		}
		out = append(out, p)
	}
	for len(out) > 1 && out[0] == out[len(out)-1] {
		out = out[:len(out)-1]
	}
	return out
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// douglasPeucker simplifies a closed ring, keeping vertices that deviate
// more than tol metres from the simplified line.
func douglasPeucker(r ring, tol float64) ring {
	// Split the ring at its vertex farthest from r[0] so both halves are open lines.
	far := 0
	for i := range r {
		if r[i].dist2(r[0]) > r[far].dist2(r[0]) {
			far = i
		}
	}
	keep := make([]bool, len(r)+1)
	pts := append(append(ring{}, r...), r[0])
	var rec func(a, b int)
	rec = func(a, b int) {
		keep[a], keep[b] = true, true
		best, bi := -1.0, -1
		for i := a + 1; i < b; i++ {
			if d := segDist(pts[i], pts[a], pts[b]); d > best {
				best, bi = d, i
			}
		}
		if best > tol {
			rec(a, bi)
			rec(bi, b)
		}
	}
	rec(0, far)
	rec(far, len(r))
	var out ring
	for i := 0; i < len(r); i++ {
		if keep[i] {
			out = append(out, r[i])
		}
	}
	return out
}

func segDist(p, a, b xy) float64 {
	ab := b.sub(a)
	t := 0.0
	if l := ab.dot(ab); l > 0 {
		t = math.Max(0, math.Min(1, p.sub(a).dot(ab)/l))
	}
	return p.dist(lerp(a, b, t))
}

// removeSpikes drops vertices where the ring folds straight back.
func removeSpikes(r ring) ring {
	for changed := true; changed && len(r) > 3; {
		changed = false
		for i := 0; i < len(r) && len(r) > 3; i++ {
			a, b, c := r[(i+len(r)-1)%len(r)], r[i], r[(i+1)%len(r)]
			if a == c || (b.sub(a).cross(c.sub(b)) == 0 && b.sub(a).dot(c.sub(b)) < 0) {
				r = append(r[:i:i], r[i+1:]...)
				r = dedupe(r)
				changed = true
			}
		}
	}
	return r
}
