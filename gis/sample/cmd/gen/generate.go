package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/paulmach/orb"
)

type site struct {
	p      xy
	w      float64
	target float64 // area in m²
}

type gTown struct {
	div      division
	code     string // 12 digits
	site     *site
	villages []*gVillage
	samples  []int
}

type gVillage struct {
	div     division
	code    string
	town    *gTown
	site    *site
	samples []int
	grids   []*gGrid
}

type gGrid struct {
	code    string
	village *gVillage
	seed    xy
	rings   [][]int // vertex ids, CCW, not closed
}

type genCity struct {
	in       *inputs
	proj     projection
	outline  ring
	samples  []xy
	towns    []*gTown
	villages []*gVillage
	grids    []*gGrid
	verts    []orb.Point // snapped WGS-84 vertices, by id
}

// simplifyM is the Douglas–Peucker tolerance for the outline, in metres.
// The echarts source is quantised to 1/1024° (about 100 m), so finer
// detail is noise.
const simplifyM = 60

func pad12(code string) string {
	for len(code) < 12 {
		code += "0"
	}
	return code
}

func generate(in *inputs) (*genCity, error) {
	g := &genCity{in: in}
	if err := g.makeOutline(); err != nil {
		return nil, err
	}
	g.makeSamples(60000)
	g.fitTowns()
	g.fitVillages()
	g.seedGrids()
	if err := g.cutGrids(); err != nil {
		return nil, err
	}
	return g, nil
}

// makeOutline cleans the quantised echarts outline (it repeats points and
// folds back on itself in places), simplifies it to 40 m and snaps it.
func (g *genCity) makeOutline() error {
	var b orb.Bound
	for i, p := range g.in.outline {
		if i == 0 {
			b = orb.Bound{Min: p, Max: p}
		}
		b = b.Extend(p)
	}
	g.proj = newProjection(b.Center())
	var r ring
	for _, p := range g.in.outline {
		r = append(r, g.proj.fwd(snap(p)))
	}
	r = removeSpikes(dedupe(r))
	if r.area() < 0 {
		slices.Reverse(r)
	}
	r = douglasPeucker(r, simplifyM)
	r = removeSpikes(dedupe(r))
	// Snap to the output lattice so outline vertices survive the round trip.
	for i := range r {
		r[i] = g.proj.fwd(snap(g.proj.inv(r[i])))
	}
	g.outline = untwist(cutLoops(removeSpikes(dedupe(r))))
	if len(g.outline) < 10 {
		return fmt.Errorf("outline collapsed to %d vertices", len(g.outline))
	}
	return nil
}

func (g *genCity) bbox() (xy, xy) {
	lo, hi := g.outline[0], g.outline[0]
	for _, p := range g.outline {
		lo = xy{math.Min(lo.X, p.X), math.Min(lo.Y, p.Y)}
		hi = xy{math.Max(hi.X, p.X), math.Max(hi.Y, p.Y)}
	}
	return lo, hi
}

func (g *genCity) makeSamples(n int) {
	r := newRand(1)
	lo, hi := g.bbox()
	for len(g.samples) < n {
		p := xy{lo.X + r.Float64()*(hi.X-lo.X), lo.Y + r.Float64()*(hi.Y-lo.Y)}
		if g.outline.contains(p) {
			g.samples = append(g.samples, p)
		}
	}
}

// fitPower fits a power diagram to the samples (indexes into g.samples):
// Lloyd steps move each site towards the centroid of its samples, and
// each site's weight grows or shrinks until its share of samples matches
// its target area. It returns the site of each sample.
func (g *genCity) fitPower(idx []int, sites []*site, iters int) []int {
	assign := make([]int, len(idx))
	var total float64
	for _, s := range sites {
		total += s.target
	}
	per := total / float64(len(idx)) // area of one sample
	for it := 0; ; it++ {
		for k, si := range idx {
			p := g.samples[si]
			best, bd := 0, math.Inf(1)
			for j, s := range sites {
				if d := p.dist2(s.p) - s.w; d < bd {
					best, bd = j, d
				}
			}
			assign[k] = best
		}
		if it == iters {
			return assign
		}
		cnt := make([]float64, len(sites))
		sum := make([]xy, len(sites))
		for k, si := range idx {
			cnt[assign[k]]++
			sum[assign[k]] = sum[assign[k]].add(g.samples[si])
		}
		for j, s := range sites {
			area := cnt[j] * per
			if cnt[j] > 0 && it < iters*2/3 {
				s.p = lerp(s.p, sum[j].scale(1/cnt[j]), 0.6)
			}
			s.w += 0.5 * (s.target - area) / math.Pi
		}
		// Keep every site inside its own cell (w_i ≥ w_j − |p_i−p_j|², with
		// a margin), so that no cell can vanish.
		for range 3 {
			for _, s := range sites {
				for _, o := range sites {
					if o != s {
						s.w = math.Max(s.w, o.w-0.7*s.p.dist2(o.p))
					}
				}
			}
		}
	}
}

// farthestPoints picks k well-spread samples from idx, starting near from.
func (g *genCity) farthestPoints(idx []int, k int, from xy) []xy {
	if k > len(idx) {
		k = len(idx)
	}
	d := make([]float64, len(idx))
	first := 0
	for i, si := range idx {
		if g.samples[si].dist2(from) < g.samples[idx[first]].dist2(from) {
			first = i
		}
	}
	out := []xy{g.samples[idx[first]]}
	for i, si := range idx {
		d[i] = g.samples[si].dist2(out[0])
	}
	for len(out) < k {
		best := 0
		for i := range d {
			if d[i] > d[best] {
				best = i
			}
		}
		p := g.samples[idx[best]]
		out = append(out, p)
		for i, si := range idx {
			d[i] = math.Min(d[i], g.samples[si].dist2(p))
		}
	}
	return out
}

func (g *genCity) fitTowns() {
	all := make([]int, len(g.samples))
	for i := range all {
		all[i] = i
	}
	area := math.Abs(g.outline.area())
	centre := g.proj.fwd(g.in.labelPoint)
	if !g.outline.contains(centre) {
		centre = g.samples[0]
	}
	byTown := map[string][]division{}
	for _, v := range g.in.villages {
		byTown[v.StreetCode] = append(byTown[v.StreetCode], v)
	}
	// Streets (街道, codes 001–099) sit around the urban centre; towns (镇)
	// spread over the rest; the special areas (4xx: 林场, 渔业社 …) are small.
	var streets, others []*gTown
	var weights []float64
	for _, d := range g.in.towns {
		t := &gTown{div: d, code: pad12(d.Code)}
		g.towns = append(g.towns, t)
		n := float64(len(byTown[d.Code]))
		suffix := d.Code[6:]
		w := math.Pow(n, 0.9)
		switch {
		case suffix < "100":
			w = 0.4 * n
			streets = append(streets, t)
		case suffix >= "400":
			w = 0.8
			others = append(others, t)
		default:
			others = append(others, t)
		}
		weights = append(weights, w)
	}
	var wsum float64
	for _, w := range weights {
		wsum += w
	}
	for i, t := range g.towns {
		t.site = &site{target: area * weights[i] / wsum}
	}
	for i, t := range streets {
		a := 2 * math.Pi * float64(i) / float64(len(streets))
		t.site.p = centre.add(xy{2500 * math.Cos(a), 2500 * math.Sin(a)})
	}
	// Towns: well-spread samples at least 6 km from the centre.
	var far []int
	for i, p := range g.samples {
		if p.dist(centre) > 6000 {
			far = append(far, i)
		}
	}
	spots := g.farthestPoints(far, len(others), g.outline[0])
	for i, t := range others {
		t.site.p = spots[i]
	}
	sites := make([]*site, len(g.towns))
	for i, t := range g.towns {
		sites[i] = t.site
	}
	assign := g.fitPower(all, sites, 60)
	for k, si := range all {
		t := g.towns[assign[k]]
		t.samples = append(t.samples, si)
	}

	for _, t := range g.towns {
		for _, d := range byTown[t.div.Code] {
			v := &gVillage{div: d, code: d.Code, town: t}
			t.villages = append(t.villages, v)
			g.villages = append(g.villages, v)
		}
	}
}

func (g *genCity) fitVillages() {
	for _, t := range g.towns {
		if len(t.villages) == 0 {
			continue
		}
		area := float64(len(t.samples)) / float64(len(g.samples)) * math.Abs(g.outline.area())
		var ws []float64
		var wsum float64
		for _, v := range t.villages {
			w := 1.0
			if isCommunity(v.div.Name) {
				w = 0.5
			}
			ws = append(ws, w)
			wsum += w
		}
		spots := g.farthestPoints(t.samples, len(t.villages), t.site.p)
		sites := make([]*site, len(t.villages))
		for i, v := range t.villages {
			v.site = &site{p: spots[i%len(spots)], target: area * ws[i] / wsum}
			// Communities cluster at the town's seat; villages spread out.
			sites[i] = v.site
		}
		// Put the communities on the spots nearest the town's site.
		slices.SortStableFunc(spots, func(a, b xy) int { return cmp.Compare(a.dist2(t.site.p), b.dist2(t.site.p)) })
		k := 0
		for _, v := range t.villages {
			if isCommunity(v.div.Name) {
				v.site.p = spots[k%len(spots)]
				k++
			}
		}
		for _, v := range t.villages {
			if !isCommunity(v.div.Name) {
				v.site.p = spots[k%len(spots)]
				k++
			}
		}
		assign := g.fitPower(t.samples, sites, 40)
		for k, si := range t.samples {
			v := t.villages[assign[k]]
			v.samples = append(v.samples, si)
		}
	}
}

// seedGrids places several grid seeds in each village (k-means of its
// samples, each centre moved to its nearest sample so it stays inside).
func (g *genCity) seedGrids() {
	r := newRand(2)
	for _, v := range g.villages {
		k := 3 + r.IntN(3) // villages: 3–5 cells
		if isCommunity(v.div.Name) {
			k = 6 + r.IntN(4) // communities: 6–9 cells
		}
		if len(v.samples) == 0 {
			continue
		}
		k = max(1, min(k, len(v.samples)/6))
		centres := g.farthestPoints(v.samples, k, v.site.p)
		for range 12 {
			sum := make([]xy, len(centres))
			cnt := make([]float64, len(centres))
			for _, si := range v.samples {
				p := g.samples[si]
				best := 0
				for j := range centres {
					if p.dist2(centres[j]) < p.dist2(centres[best]) {
						best = j
					}
				}
				sum[best] = sum[best].add(p)
				cnt[best]++
			}
			for j := range centres {
				if cnt[j] > 0 {
					centres[j] = sum[j].scale(1 / cnt[j])
				}
			}
		}
		for _, c := range centres {
			best := v.samples[0]
			for _, si := range v.samples {
				if g.samples[si].dist2(c) < g.samples[best].dist2(c) {
					best = si
				}
			}
			s := g.samples[best]
			if slices.ContainsFunc(v.grids, func(x *gGrid) bool { return x.seed == s }) {
				continue
			}
			v.grids = append(v.grids, &gGrid{village: v, seed: s})
		}
		// Number the cells north to south, west to east.
		slices.SortFunc(v.grids, func(a, b *gGrid) int {
			return cmp.Or(cmp.Compare(math.Round(b.seed.Y/300), math.Round(a.seed.Y/300)), cmp.Compare(a.seed.X, b.seed.X))
		})
		for i, gr := range v.grids {
			gr.code = fmt.Sprintf("%s%03d", v.code, i+1)
			g.grids = append(g.grids, gr)
		}
	}
}

// cutGrids computes the Voronoi cell of every grid seed, clips it to the
// outline, and snaps and merges the vertices so that neighbours share them.
func (g *genCity) cutGrids() error {
	lo, hi := g.bbox()
	lo, hi = lo.sub(xy{1000, 1000}), hi.add(xy{1000, 1000})
	box := ring{lo, {hi.X, lo.Y}, hi, {lo.X, hi.Y}}
	seeds := make([]xy, len(g.grids))
	for i, gr := range g.grids {
		seeds[i] = gr.seed
	}
	order := make([]int, len(seeds))
	vid := map[[2]int64]int{}
	vertex := func(p xy) int {
		q := snap(g.proj.inv(p))
		k := [2]int64{int64(math.Round(q[0] * 1e6)), int64(math.Round(q[1] * 1e6))}
		// Merge with a vertex one or two lattice steps away: the same point
		// computed in two cells can round to neighbouring lattice points.
		for dx := int64(-2); dx <= 2; dx++ {
			for dy := int64(-2); dy <= 2; dy++ {
				if id, ok := vid[[2]int64{k[0] + dx, k[1] + dy}]; ok {
					return id
				}
			}
		}
		vid[k] = len(g.verts)
		g.verts = append(g.verts, q)
		return vid[k]
	}
	// Outline vertices first, so that cells reuse them exactly.
	for _, p := range g.outline {
		vertex(p)
	}
	for i, s := range seeds {
		for j := range order {
			order[j] = j
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(s.dist2(seeds[a]), s.dist2(seeds[b])) })
		cell := box
		var planes []halfPlane
		for _, j := range order[1:] {
			reach := 0.0
			for _, v := range cell {
				reach = math.Max(reach, s.dist(v))
			}
			if s.dist(seeds[j]) > 2*reach {
				break
			}
			h := bisector(s, seeds[j], 0, 0, i, j)
			next := clipConvex(cell, h)
			if len(next) != len(cell) || next.area() < cell.area()-1e-6 {
				planes = append(planes, h)
				cell = next
			}
		}
		pieces := []ring{g.outline}
		for _, h := range planes {
			var next []ring
			for _, p := range pieces {
				next = append(next, clipHalf(p, h)...)
			}
			pieces = next
		}
		for _, p := range pieces {
			var ids []int
			for _, q := range p {
				ids = append(ids, vertex(q))
			}
			ids = cleanIDs(ids)
			if len(ids) >= 3 {
				g.grids[i].rings = append(g.grids[i].rings, ids)
			}
		}
	}
	// Drop cells that vanished (a seed whose cell is all sliver).
	kept := g.grids[:0]
	for _, gr := range g.grids {
		if len(gr.rings) > 0 {
			kept = append(kept, gr)
		} else {
			gr.village.grids = slices.DeleteFunc(gr.village.grids, func(x *gGrid) bool { return x == gr })
		}
	}
	g.grids = kept
	return g.checkTopology()
}

// cutLoops removes the smaller side wherever the ring passes through the
// same point twice (the quantised source has a few such pinches).
func cutLoops(r ring) ring {
	for {
		seen := map[xy]int{}
		cut := false
		for i, p := range r {
			j, ok := seen[p]
			if !ok {
				seen[p] = i
				continue
			}
			inner := append(ring{}, r[j:i]...)
			outer := append(append(ring{}, r[:j]...), r[i:]...)
			if math.Abs(inner.area()) > math.Abs(outer.area()) {
				r = inner
			} else {
				r = outer
			}
			cut = true
			break
		}
		if !cut {
			return r
		}
	}
}

// untwist removes the small folds simplification can leave: where two
// edges a few vertices apart cross, the vertices between them go.
func untwist(r ring) ring {
	for again := true; again; {
		again = false
		n := len(r)
	search:
		for i := 0; i < n; i++ {
			for k := 2; k <= 6 && k < n-1; k++ {
				j := (i + k) % n
				a, b := r[i], r[(i+1)%n]
				c, d := r[j], r[(j+1)%n]
				o1, o2 := b.sub(a).cross(c.sub(a)), b.sub(a).cross(d.sub(a))
				o3, o4 := d.sub(c).cross(a.sub(c)), d.sub(c).cross(b.sub(c))
				if o1*o2 < 0 && o3*o4 < 0 {
					// Drop vertices i+1 … j.
					var out ring
					for m := 0; m < n; m++ {
						if off := (m - i + n) % n; off >= 1 && off <= k {
							continue
						}
						out = append(out, r[m])
					}
					r = out
					again = true
					break search
				}
			}
		}
	}
	return r
}

// cleanIDs removes repeated vertices and fold-backs from a ring of ids.
func cleanIDs(ids []int) []int {
	for changed := true; changed; {
		changed = false
		var out []int
		for _, id := range ids {
			if len(out) > 0 && out[len(out)-1] == id {
				changed = true
				continue
			}
			out = append(out, id)
		}
		for len(out) > 1 && out[0] == out[len(out)-1] {
			out = out[:len(out)-1]
			changed = true
		}
		// a b a → a
		for i := 0; len(out) >= 3 && i < len(out); i++ {
			a, c := out[(i+len(out)-1)%len(out)], out[(i+1)%len(out)]
			if a == c {
				out = append(out[:i:i], out[i+1:]...)
				changed = true
				break
			}
		}
		ids = out
	}
	return ids
}

// checkTopology verifies that every cell edge is shared with exactly one
// other cell, in the opposite direction, or lies on the outline.
func (g *genCity) checkTopology() error {
	edges := map[[2]int]int{}
	for _, gr := range g.grids {
		for _, r := range gr.rings {
			for i := range r {
				edges[[2]int{r[i], r[(i+1)%len(r)]}]++
			}
		}
	}
	var unmatched int
	for e, n := range edges {
		if n > 1 {
			return fmt.Errorf("edge %v used %d times in the same direction", e, n)
		}
		if edges[[2]int{e[1], e[0]}] == 0 {
			unmatched++
		}
	}
	// The unmatched edges must form the outline: one closed ring.
	boundary := g.dissolve(g.grids)
	if len(boundary) != 1 || len(boundary[0]) != 1 {
		return fmt.Errorf("the cells' union is %d polygons, want the one outline (%d unmatched edges)", len(boundary), unmatched)
	}
	return nil
}
