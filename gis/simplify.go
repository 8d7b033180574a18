package gis

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/paulmach/orb"
)

// Zoom levels for which LayerForZoom simplifies; at MaxSimplifiedZoom+1 and
// above it serves the full layer.
const (
	MinSimplifiedZoom = 8
	MaxSimplifiedZoom = 13
)

// zoomLayers holds the lazily built simplified layers of a City.
type zoomLayers struct {
	once  map[string]*[MaxSimplifiedZoom + 1]sync.Once
	bytes map[string]*[MaxSimplifiedZoom + 1][]byte
}

// LayerForZoom returns the named layer simplified for display at a web-map
// zoom level (0–22): every shared boundary is simplified once
// (Douglas–Peucker to half a pixel at that zoom) and used by both units
// on either side, so neighbours still meet without gaps or overlaps.
// Zoom levels above MaxSimplifiedZoom, and the roads and resources layers,
// get the full layer. Each simplified layer is built on first use and then
// cached; LayerForZoom is safe for concurrent use.
func (c *City) LayerForZoom(name string, zoom int) ([]byte, bool) {
	full, ok := c.layers[name]
	if !ok || zoom > MaxSimplifiedZoom {
		return full, ok
	}
	once, ok := c.zoom.once[name]
	if !ok {
		return full, true // not a polygon layer
	}
	z := max(zoom, MinSimplifiedZoom)
	once[z].Do(func() { c.zoom.bytes[name][z] = c.encodeSimplified(name, z) })
	return c.zoom.bytes[name][z], true
}

func (c *City) initZoom() {
	c.zoom = zoomLayers{once: map[string]*[MaxSimplifiedZoom + 1]sync.Once{}, bytes: map[string]*[MaxSimplifiedZoom + 1][]byte{}}
	for rank, lv := range levels {
		if len(c.levels[rank].units) > 0 {
			name := layerOfLevel[lv]
			c.zoom.once[name] = new([MaxSimplifiedZoom + 1]sync.Once)
			c.zoom.bytes[name] = new([MaxSimplifiedZoom + 1][]byte)
		}
	}
}

func (c *City) encodeSimplified(name string, zoom int) []byte {
	rank := -1
	for r, lv := range levels {
		if layerOfLevel[lv] == name {
			rank = r
		}
	}
	ld := &c.levels[rank]
	geoms := make([]orb.MultiPolygon, len(ld.units))
	for i, ui := range ld.units {
		geoms[i] = c.units[ui].geom
	}
	// Half a pixel at this zoom, in degrees of latitude.
	lat := (c.bound.Min[1] + c.bound.Max[1]) / 2
	tol := 0.5 * 156543.03 * math.Cos(lat*math.Pi/180) / math.Exp2(float64(zoom)) / 111320
	simple := simplifyShared(geoms, tol, math.Cos(lat*math.Pi/180))

	var b bytes.Buffer
	c.header(&b, name)
	for i, ui := range ld.units {
		u := &c.units[ui]
		if i > 0 {
			b.WriteByte(',')
		}
		writeUnitFeature(&b, u, simple[i])
	}
	b.WriteString("]}")
	return slices.Clip(b.Bytes())
}

// simplifyShared simplifies a set of polygons that share boundaries
// without opening gaps between them: rings are cut into arcs at junctions
// (vertices where three or more edges meet), each arc is simplified once
// with its ends fixed, and every ring is rebuilt from the simplified arcs,
// so two neighbours get bit-identical boundaries. tol is in degrees of
// latitude; kx scales longitude to the same units. A ring that would
// collapse keeps its original vertices.
func simplifyShared(geoms []orb.MultiPolygon, tol, kx float64) []orb.MultiPolygon {
	// Degree of each vertex in the undirected edge graph.
	nbrs := map[orb.Point]map[orb.Point]bool{}
	link := func(a, b orb.Point) {
		if nbrs[a] == nil {
			nbrs[a] = map[orb.Point]bool{}
		}
		nbrs[a][b] = true
	}
	for _, g := range geoms {
		for _, p := range g {
			for _, r := range p {
				for i := 0; i+1 < len(r); i++ {
					link(r[i], r[i+1])
					link(r[i+1], r[i])
				}
			}
		}
	}
	junction := func(p orb.Point) bool { return len(nbrs[p]) != 2 }
	arcs := map[string][]orb.Point{}
	simplifyArc := func(arc []orb.Point) []orb.Point {
		// Canonical direction: the same arc seen from the other side is
		// simplified by the same computation.
		rev := arcLess(reversed(arc), arc)
		if rev {
			arc = reversed(arc)
		}
		key := arcKey(arc)
		s, ok := arcs[key]
		if !ok {
			s = douglasPeucker(arc, tol, kx)
			arcs[key] = s
		}
		if rev {
			return reversed(s)
		}
		return s
	}
	out := make([]orb.MultiPolygon, len(geoms))
	for gi, g := range geoms {
		for _, p := range g {
			var poly orb.Polygon
			for _, r := range p {
				open := r[:len(r)-1]
				start := slices.IndexFunc(open, junction)
				if start < 0 {
					// No junction: start at the smallest vertex, as the ring
					// on the other side of this loop will.
					start = 0
					for i, v := range open {
						if v[0] < open[start][0] || (v[0] == open[start][0] && v[1] < open[start][1]) {
							start = i
						}
					}
				}
				rot := append(append(orb.Ring{}, open[start:]...), open[:start]...)
				rot = append(rot, rot[0])
				var nr orb.Ring
				from := 0
				for i := 1; i < len(rot); i++ {
					if i == len(rot)-1 || junction(rot[i]) {
						s := simplifyArc(rot[from : i+1])
						if len(nr) > 0 {
							s = s[1:]
						}
						nr = append(nr, s...)
						from = i
					}
				}
				if len(nr) < 4 || ringArea(nr) == 0 {
					nr = r
				}
				poly = append(poly, nr)
			}
			out[gi] = append(out[gi], poly)
		}
	}
	return out
}

func reversed(a []orb.Point) []orb.Point {
	r := make([]orb.Point, len(a))
	for i := range a {
		r[i] = a[len(a)-1-i]
	}
	return r
}

func arcLess(a, b []orb.Point) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i][0] < b[i][0] || (a[i][0] == b[i][0] && a[i][1] < b[i][1])
		}
	}
	return false
}

func arcKey(a []orb.Point) string {
	var b strings.Builder
	var tmp [32]byte
	for _, p := range a {
		b.Write(strconv.AppendFloat(tmp[:0], p[0], 'g', -1, 64))
		b.WriteByte(',')
		b.Write(strconv.AppendFloat(tmp[:0], p[1], 'g', -1, 64))
		b.WriteByte(';')
	}
	return b.String()
}

// douglasPeucker simplifies an open line keeping its ends; a closed arc
// (first == last) also keeps its vertex farthest from the ends.
func douglasPeucker(line []orb.Point, tol, kx float64) []orb.Point {
	if len(line) <= 2 {
		return line
	}
	keep := make([]bool, len(line))
	keep[0], keep[len(line)-1] = true, true
	t2 := tol * tol
	var rec func(a, b int)
	rec = func(a, b int) {
		best, bi := -1.0, -1
		pa := orb.Point{line[a][0] * kx, line[a][1]}
		pb := orb.Point{line[b][0] * kx, line[b][1]}
		for i := a + 1; i < b; i++ {
			if d := segmentDist2(orb.Point{line[i][0] * kx, line[i][1]}, pa, pb); d > best {
				best, bi = d, i
			}
		}
		if bi >= 0 && best > t2 {
			keep[bi] = true
			rec(a, bi)
			rec(bi, b)
		}
	}
	if line[0] == line[len(line)-1] {
		far, fd := 1, -1.0
		for i := 1; i < len(line)-1; i++ {
			dx, dy := (line[i][0]-line[0][0])*kx, line[i][1]-line[0][1]
			if d := dx*dx + dy*dy; d > fd {
				far, fd = i, d
			}
		}
		keep[far] = true
		rec(0, far)
		rec(far, len(line)-1)
	} else {
		rec(0, len(line)-1)
	}
	var out []orb.Point
	for i, k := range keep {
		if k {
			out = append(out, line[i])
		}
	}
	return out
}
