package gis

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"testing/fstest"

	"github.com/paulmach/orb"
)

// fc renders features as a GeoJSON FeatureCollection.
func fc(features ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"type": "FeatureCollection", "features": features})
	if err != nil {
		panic(err)
	}
	return b
}

func feat(props map[string]any, geomType string, coords any) map[string]any {
	return map[string]any{"type": "Feature", "properties": props, "geometry": map[string]any{"type": geomType, "coordinates": coords}}
}

func ringCoords(r orb.Ring) [][]float64 {
	out := make([][]float64, len(r))
	for i, p := range r {
		out[i] = []float64{p[0], p[1]}
	}
	return out
}

// lattice is a synthetic city: an nx × ny grid of quadrilateral cells over
// a box near 姜堰, whose shared vertices are jittered (so edges are not
// axis-aligned) and whose shared edges optionally wiggle through extra
// vertices. Neighbouring cells share bit-identical edges; the district is
// the union of all cells.
type lattice struct {
	nx, ny int
	cells  []orb.Ring
	outer  orb.Ring
	fsys   fstest.MapFS
}

const (
	latLon0 = 119.95
	latLat0 = 32.35
)

func newLattice(nx, ny, wiggle int, jitter float64, seed uint64) *lattice {
	r := rand.New(rand.NewPCG(seed, 7))
	w, h := 0.4/float64(nx), 0.3/float64(ny)
	v := make([][]orb.Point, nx+1)
	for i := range v {
		v[i] = make([]orb.Point, ny+1)
		for j := range v[i] {
			x, y := latLon0+float64(i)*w, latLat0+float64(j)*h
			if i > 0 && i < nx {
				x += (r.Float64() - 0.5) * jitter * w
			}
			if j > 0 && j < ny {
				y += (r.Float64() - 0.5) * jitter * h
			}
			v[i][j] = orb.Point{x, y}
		}
	}
	// Each edge's intermediate points, generated once and shared.
	type key struct{ a, b [2]int }
	edges := map[key][]orb.Point{}
	path := func(a, b [2]int) []orb.Point { // points strictly between a and b
		if pts, ok := edges[key{a, b}]; ok {
			return pts
		}
		if pts, ok := edges[key{b, a}]; ok {
			rev := make([]orb.Point, len(pts))
			for i := range pts {
				rev[i] = pts[len(pts)-1-i]
			}
			return rev
		}
		pa, pb := v[a[0]][a[1]], v[b[0]][b[1]]
		border := (a[0] == b[0] && (a[0] == 0 || a[0] == nx)) || (a[1] == b[1] && (a[1] == 0 || a[1] == ny))
		var pts []orb.Point
		dx, dy := pb[0]-pa[0], pb[1]-pa[1]
		amp := 0.15 * math.Min(w, h)
		phase := r.Float64() * 2 * math.Pi
		for k := 1; k <= wiggle; k++ {
			t := float64(k) / float64(wiggle+1)
			off := 0.0
			if !border {
				off = amp * math.Sin(t*math.Pi) * (0.6*math.Sin(t*23+phase) + 0.4*(r.Float64()-0.5))
			}
			l := math.Hypot(dx, dy)
			pts = append(pts, orb.Point{pa[0] + t*dx - off*dy/l, pa[1] + t*dy + off*dx/l})
		}
		edges[key{a, b}] = pts
		return pts
	}
	l := &lattice{nx: nx, ny: ny}
	walk := func(corners [][2]int) orb.Ring {
		var ring orb.Ring
		for k := range corners {
			a, b := corners[k], corners[(k+1)%len(corners)]
			ring = append(ring, v[a[0]][a[1]])
			ring = append(ring, path(a, b)...)
		}
		return append(ring, ring[0])
	}
	var grids []map[string]any
	for j := range ny {
		for i := range nx {
			cell := walk([][2]int{{i, j}, {i + 1, j}, {i + 1, j + 1}, {i, j + 1}})
			l.cells = append(l.cells, cell)
			grids = append(grids, feat(map[string]any{
				"code": fmt.Sprintf("321204001001%03d%03d", i, j), "name": fmt.Sprintf("网格%d-%d", i, j), "parent": "321204000000", "schematic": true,
			}, "Polygon", [][][]float64{ringCoords(cell)}))
		}
	}
	var corners [][2]int
	for i := range nx {
		corners = append(corners, [2]int{i, 0})
	}
	for j := range ny {
		corners = append(corners, [2]int{nx, j})
	}
	for i := nx; i > 0; i-- {
		corners = append(corners, [2]int{i, ny})
	}
	for j := ny; j > 0; j-- {
		corners = append(corners, [2]int{0, j})
	}
	l.outer = walk(corners)
	l.fsys = fstest.MapFS{
		"city.json":        {Data: []byte(`{"name":"lattice","code":"321204","year":2023}`)},
		"district.geojson": {Data: fc(feat(map[string]any{"code": "321204000000", "name": "姜堰区"}, "Polygon", [][][]float64{ringCoords(l.outer)}))},
		"grids.geojson":    {Data: fc(grids...)},
	}
	return l
}

func (l *lattice) load(tb testing.TB) *City {
	tb.Helper()
	c, err := Load(l.fsys)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
