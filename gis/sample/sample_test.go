package sample

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

func load(tb testing.TB) *gis.City {
	tb.Helper()
	c, err := Load()
	if errors.Is(err, ErrNotGenerated) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestCounts(t *testing.T) {
	c := load(t)
	m := c.Meta()
	if m.Code != "321204" || m.Year < 2020 {
		t.Errorf("meta = %+v", m)
	}
	if n := len(c.Units(gis.LevelDistrict)); n != 1 {
		t.Errorf("%d districts", n)
	}
	if n := len(c.Units(gis.LevelTown)); n != 18 {
		t.Errorf("%d towns, want the 18 of china-division", n)
	}
	if n := len(c.Units(gis.LevelVillage)); n != 285 {
		t.Errorf("%d villages, want the 285 of china-division", n)
	}
	if n := len(c.Units(gis.LevelGrid)); n < 1000 || n > 3000 {
		t.Errorf("%d grid cells, want 1,000–3,000", n)
	}
	for _, name := range c.LayerNames() {
		b, _ := c.Layer(name)
		t.Logf("layer %s: %d bytes", name, len(b))
	}
}

// TestTiling checks, with an implementation independent of the package's
// own (orb/planar), that the levels nest and tile: every random point in
// the district lies in exactly one town, exactly one village of that town
// and exactly one grid cell of that village, and Locate agrees.
func TestTiling(t *testing.T) {
	c := load(t)
	type poly struct {
		code, parent string
		b            orb.Bound
		g            orb.MultiPolygon
	}
	polys := func(l gis.Level) []poly {
		var out []poly
		for _, u := range c.Units(l) {
			info, _ := c.Unit(u.Code)
			out = append(out, poly{u.Code, info.Parent, info.Bound, info.Geom})
		}
		return out
	}
	district, towns, villages, grids := polys(gis.LevelDistrict), polys(gis.LevelTown), polys(gis.LevelVillage), polys(gis.LevelGrid)
	in := func(ps []poly, p orb.Point) []poly {
		var out []poly
		for _, x := range ps {
			if x.b.Contains(p) && planar.MultiPolygonContains(x.g, p) {
				out = append(out, x)
			}
		}
		return out
	}
	r := rand.New(rand.NewPCG(1, 2))
	b := c.Bounds()
	inside := 0
	for range 20000 {
		p := orb.Point{b.Min[0] + r.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + r.Float64()*(b.Max[1]-b.Min[1])}
		d := in(district, p)
		place, err := c.Locate(p)
		if len(d) == 0 {
			if len(in(towns, p)) != 0 || len(in(villages, p)) != 0 || len(in(grids, p)) != 0 {
				t.Fatalf("%v: outside the district but inside a unit", p)
			}
			if !errors.Is(err, gis.ErrOutside) {
				t.Fatalf("Locate(%v) = %+v, %v; want ErrOutside", p, place, err)
			}
			continue
		}
		inside++
		ts, vs, gs := in(towns, p), in(villages, p), in(grids, p)
		if len(ts) != 1 || len(vs) != 1 || len(gs) != 1 {
			t.Fatalf("%v: in %d towns, %d villages, %d grids; want 1 each", p, len(ts), len(vs), len(gs))
		}
		if vs[0].parent != ts[0].code || gs[0].parent != vs[0].code {
			t.Fatalf("%v: grid %s (parent %s) / village %s (parent %s) / town %s do not nest", p, gs[0].code, gs[0].parent, vs[0].code, vs[0].parent, ts[0].code)
		}
		if err != nil || place.Grid.Code != gs[0].code || place.Village.Code != vs[0].code || place.Town.Code != ts[0].code || place.District.Code != d[0].code {
			t.Fatalf("Locate(%v) = %+v, %v; want grid %s", p, place, err, gs[0].code)
		}
	}
	if inside < 5000 {
		t.Fatalf("only %d of 20000 points inside", inside)
	}
}

// TestAreasSum checks that children's areas add up to their parent's.
func TestAreasSum(t *testing.T) {
	c := load(t)
	for _, l := range []gis.Level{gis.LevelDistrict, gis.LevelTown, gis.LevelVillage} {
		for _, u := range c.Units(l) {
			parent, _ := c.Unit(u.Code)
			var sum float64
			for _, ch := range c.Children(u.Code) {
				info, _ := c.Unit(ch.Code)
				if info.Level == nextLevel(l) {
					sum += info.AreaM2
				}
			}
			if rel := math.Abs(sum-parent.AreaM2) / parent.AreaM2; rel > 1e-6 {
				t.Errorf("%s %s: children's area %.0f m², own %.0f m² (%.2g)", l, u.Name, sum, parent.AreaM2, rel)
			}
		}
	}
}

func nextLevel(l gis.Level) gis.Level {
	switch l {
	case gis.LevelDistrict:
		return gis.LevelTown
	case gis.LevelTown:
		return gis.LevelVillage
	}
	return gis.LevelGrid
}

func TestLoadIsCached(t *testing.T) {
	a := load(t)
	b, _ := Load()
	if a != b {
		t.Fatal("Load returned two cities")
	}
}

func ExampleLoad() {
	c, err := Load()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Meta().Name, len(c.Units(gis.LevelTown)), "towns")
}
