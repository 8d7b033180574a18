package gis

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

var kinds = []string{"fire_station", "hospital", "police", "shelter", "water_sensor", "smoke_sensor", "camera"}

// withResources adds n random resources to a lattice city.
func withResources(l *lattice, n int, seed uint64) *lattice {
	r := rand.New(rand.NewPCG(seed, 9))
	var fs []map[string]any
	for i := range n {
		p := []float64{latLon0 + r.Float64()*0.4, latLat0 + r.Float64()*0.3}
		fs = append(fs, feat(map[string]any{"id": fmt.Sprintf("r%05d", i), "kind": kinds[r.IntN(len(kinds))], "name": fmt.Sprintf("资源%d", i)}, "Point", p))
	}
	l.fsys["resources.geojson"] = &fstest.MapFile{Data: fc(fs...)}
	return l
}

func bruteNearest(c *City, p orb.Point, kind string, k int) []Nearby {
	var all []Nearby
	for _, r := range c.resources {
		if kind == "" || r.Kind == kind {
			all = append(all, Nearby{ID: r.ID, Kind: r.Kind, Name: r.Name, Point: r.Point, DistanceM: geo.Distance(p, r.Point)})
		}
	}
	sortNearby(all)
	return all[:min(k, len(all))]
}

func TestNearestMatchesBruteForce(t *testing.T) {
	c := withResources(newLattice(10, 10, 0, 0.5, 1), 3000, 1).load(t)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 500 {
		p := orb.Point{latLon0 - 0.1 + r.Float64()*0.6, latLat0 - 0.1 + r.Float64()*0.5}
		kind := ""
		if i%2 == 1 {
			kind = kinds[i%len(kinds)]
		}
		k := 1 + i%8
		got, want := c.Nearest(p, kind, k), bruteNearest(c, p, kind, k)
		if len(got) != len(want) {
			t.Fatalf("Nearest(%v, %q, %d) returned %d, want %d", p, kind, k, len(got), len(want))
		}
		for j := range got {
			if got[j].ID != want[j].ID && math.Abs(got[j].DistanceM-want[j].DistanceM) > 1e-6 {
				t.Fatalf("Nearest(%v, %q, %d)[%d] = %+v, want %+v", p, kind, k, j, got[j], want[j])
			}
		}
	}
	if got := c.Nearest(orb.Point{120, 32}, "no-such-kind", 3); got != nil {
		t.Errorf("unknown kind: %v", got)
	}
	if got := c.Nearest(orb.Point{120, 32}, "", 0); got != nil {
		t.Errorf("k=0: %v", got)
	}
}

func TestWithinCircle(t *testing.T) {
	c := withResources(newLattice(20, 20, 3, 0.5, 1), 2000, 2).load(t)
	centre := orb.Point{latLon0 + 0.2, latLat0 + 0.15}
	for _, radius := range []float64{0, 500, 2500, 8000} {
		units, res := c.WithinCircle(centre, radius)
		// Resources: exactly those within the radius, nearest first.
		var want []Nearby
		for _, n := range bruteNearest(c, centre, "", len(c.resources)) {
			if n.DistanceM <= radius {
				want = append(want, n)
			}
		}
		if len(res) != len(want) || (len(res) > 0 && res[0].ID != want[0].ID) {
			t.Errorf("radius %.0f: %d resources, want %d", radius, len(res), len(want))
		}
		// Cells: the one containing the centre, and every cell that has a
		// vertex within the radius.
		pl, _ := c.Locate(centre)
		if !slices.ContainsFunc(units, func(u Unit) bool { return u.Code == pl.Grid.Code }) {
			t.Errorf("radius %.0f: cell of the centre %s missing", radius, pl.Grid.Code)
		}
		for _, ui := range c.finest() {
			u := &c.units[ui]
			near := slices.ContainsFunc(u.geom[0][0], func(v orb.Point) bool { return geo.Distance(v, centre) < radius*0.999 })
			if near && !slices.ContainsFunc(units, func(x Unit) bool { return x.Code == u.Code }) {
				t.Errorf("radius %.0f: cell %s has a vertex inside but is missing", radius, u.Code)
			}
		}
		t.Logf("radius %5.0f m: %3d cells, %3d resources", radius, len(units), len(res))
	}
}

func TestWithinPolygon(t *testing.T) {
	c := withResources(newLattice(20, 20, 3, 0.5, 1), 2000, 3).load(t)
	// A CAP-like warning triangle.
	area := orb.Polygon{{{latLon0 + 0.05, latLat0 + 0.05}, {latLon0 + 0.3, latLat0 + 0.08}, {latLon0 + 0.12, latLat0 + 0.25}, {latLon0 + 0.05, latLat0 + 0.05}}}
	units, res := c.Within(area)
	s := newShape(area)
	for _, r := range c.resources {
		in := s.contains(r.Point)
		got := slices.ContainsFunc(res, func(n Nearby) bool { return n.ID == r.ID })
		if in != got {
			t.Fatalf("resource %s at %v: inside %v, returned %v", r.ID, r.Point, in, got)
		}
	}
	// Every cell containing a random point of the area is returned, and
	// no returned cell is far outside it.
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		p := orb.Point{latLon0 + rnd.Float64()*0.4, latLat0 + rnd.Float64()*0.3}
		if !s.contains(p) {
			continue
		}
		pl, err := c.Locate(p)
		if err == nil && !slices.ContainsFunc(units, func(u Unit) bool { return u.Code == pl.Grid.Code }) {
			t.Fatalf("cell %s contains %v in the area but was not returned", pl.Grid.Code, p)
		}
	}
	mp := orb.MultiPolygon{area, {{{latLon0 + 0.35, latLat0 + 0.25}, {latLon0 + 0.38, latLat0 + 0.25}, {latLon0 + 0.38, latLat0 + 0.28}, {latLon0 + 0.35, latLat0 + 0.25}}}}
	units2, res2 := c.Within(mp)
	if len(units2) <= len(units) || len(res2) < len(res) {
		t.Errorf("multipolygon: %d cells, %d resources; the triangle alone had %d, %d", len(units2), len(res2), len(units), len(res))
	}
	slices.SortFunc(res, func(a, b Nearby) int { return cmp.Compare(a.DistanceM, b.DistanceM) })
	if u, r := c.Within(orb.LineString{{1, 2}, {3, 4}}); u != nil || r != nil {
		t.Error("a LineString area returned something")
	}
}
