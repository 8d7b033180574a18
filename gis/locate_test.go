package gis

import (
	"errors"
	"math/rand/v2"
	"testing"
	"testing/fstest"

	"github.com/paulmach/orb"
)

// squares is a 2×2 tiling of squares with exactly representable
// coordinates (1/128° sides), for the boundary rule.
func squares(t *testing.T) *City {
	t.Helper()
	const x0, y0, d = 120.0, 32.5, 1.0 / 128
	sq := func(i, j int) [][][]float64 {
		x, y := x0+float64(i)*d, y0+float64(j)*d
		return [][][]float64{{{x, y}, {x + d, y}, {x + d, y + d}, {x, y + d}, {x, y}}}
	}
	grid := func(code, name string, i, j int) map[string]any {
		return feat(map[string]any{"code": code, "name": name, "parent": "D"}, "Polygon", sq(i, j))
	}
	fsys := fstest.MapFS{
		"district.geojson": {Data: fc(feat(map[string]any{"code": "D", "name": "district"}, "Polygon",
			[][][]float64{{{x0, y0}, {x0 + 2*d, y0}, {x0 + 2*d, y0 + 2*d}, {x0, y0 + 2*d}, {x0, y0}}}))},
		"grids.geojson": {Data: fc(grid("SW", "south-west", 0, 0), grid("SE", "south-east", 1, 0), grid("NW", "north-west", 0, 1), grid("NE", "north-east", 1, 1))},
	}
	c, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBoundaryRule(t *testing.T) {
	c := squares(t)
	const x0, y0, d, h = 120.0, 32.5, 1.0 / 128, 1.0 / 256
	tests := []struct {
		name string
		p    orb.Point
		want string // grid code, "" for outside
	}{
		{"interior", orb.Point{x0 + h, y0 + h}, "SW"},
		{"shared vertical edge goes east", orb.Point{x0 + d, y0 + h}, "SE"},
		{"shared vertical edge, north row", orb.Point{x0 + d, y0 + d + h}, "NE"},
		{"shared horizontal edge goes north", orb.Point{x0 + h, y0 + d}, "NW"},
		{"shared horizontal edge, east column", orb.Point{x0 + d + h, y0 + d}, "NE"},
		{"vertex shared by four goes north-east", orb.Point{x0 + d, y0 + d}, "NE"},
		{"outer west edge is inside", orb.Point{x0, y0 + h}, "SW"},
		{"outer south edge is inside", orb.Point{x0 + d + h, y0}, "SE"},
		{"south-west corner is inside", orb.Point{x0, y0}, "SW"},
		{"vertex on the south edge", orb.Point{x0 + d, y0}, "SE"},
		{"vertex on the west edge", orb.Point{x0, y0 + d}, "NW"},
		{"outer east edge is outside", orb.Point{x0 + 2*d, y0 + h}, ""},
		{"outer north edge is outside", orb.Point{x0 + h, y0 + 2*d}, ""},
		{"north-east corner is outside", orb.Point{x0 + 2*d, y0 + 2*d}, ""},
		{"south-east corner is outside", orb.Point{x0 + 2*d, y0}, ""},
		{"north-west corner is outside", orb.Point{x0, y0 + 2*d}, ""},
		{"far away", orb.Point{0, 0}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // always the same answer
				pl, err := c.Locate(tc.p)
				if tc.want == "" {
					if !errors.Is(err, ErrOutside) {
						t.Fatalf("Locate(%v) = %+v, %v; want ErrOutside", tc.p, pl, err)
					}
					continue
				}
				if err != nil || pl.Grid.Code != tc.want || pl.District.Code != "D" {
					t.Fatalf("Locate(%v) = %+v, %v; want grid %s", tc.p, pl, err, tc.want)
				}
			}
		})
	}
}

// TestLocateExactlyOne checks on a jittered, wiggly lattice that every
// point — random points, every vertex, points on edges — is in exactly one
// cell or outside, and that the index agrees with a scan of all cells.
func TestLocateExactlyOne(t *testing.T) {
	for _, tc := range []struct {
		name           string
		nx, ny, wiggle int
	}{{"quads", 30, 20, 0}, {"wiggly", 8, 6, 40}} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLattice(tc.nx, tc.ny, tc.wiggle, 0.6, 1)
			c := l.load(t)
			ld := &c.levels[levelRank(LevelGrid)]
			var pts []orb.Point
			for _, cell := range l.cells {
				for i := 0; i+1 < len(cell); i++ {
					a, b := cell[i], cell[i+1]
					pts = append(pts, a, orb.Point{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2}, orb.Point{a[0]*0.25 + b[0]*0.75, a[1]*0.25 + b[1]*0.75})
				}
			}
			r := rand.New(rand.NewPCG(3, 4))
			b := c.Bounds()
			for range 20000 {
				pts = append(pts, orb.Point{b.Min[0] - 0.01 + r.Float64()*(b.Max[0]-b.Min[0]+0.02), b.Min[1] - 0.01 + r.Float64()*(b.Max[1]-b.Min[1]+0.02)})
			}
			outside := 0
			for _, p := range pts {
				n, first := 0, -1
				for i, ui := range ld.units {
					if c.units[ui].shape.contains(p) {
						n++
						if first < 0 {
							first = i
						}
					}
				}
				if n > 1 {
					t.Fatalf("%v is in %d cells", p, n)
				}
				got := ld.index.lookup(p)
				if got != first {
					t.Fatalf("index says %d, scan says %d for %v", got, first, p)
				}
				pl, err := c.Locate(p)
				switch {
				case first < 0 && !errors.Is(err, ErrOutside):
					t.Fatalf("Locate(%v) = %+v, %v; want ErrOutside", p, pl, err)
				case first >= 0 && pl.Grid.Code != c.units[ld.units[first]].Code:
					t.Fatalf("Locate(%v) = %+v, %v", p, pl, err)
				}
				if first < 0 {
					outside++
				}
			}
			t.Logf("%d points, %d outside", len(pts), outside)
		})
	}
}

func TestRandomPointIn(t *testing.T) {
	c := newLattice(10, 10, 5, 0.5, 2).load(t)
	r := rand.New(rand.NewPCG(1, 1))
	for _, u := range c.Units(LevelGrid)[:20] {
		for range 50 {
			p, ok := c.RandomPointIn(u.Code, r)
			if !ok {
				t.Fatalf("RandomPointIn(%s) failed", u.Code)
			}
			if pl, err := c.Locate(p); err != nil || pl.Grid.Code != u.Code {
				t.Fatalf("RandomPointIn(%s) = %v, which locates to %+v, %v", u.Code, p, pl, err)
			}
		}
	}
	if _, ok := c.RandomPointIn("nope", r); ok {
		t.Fatal("RandomPointIn of an unknown code succeeded")
	}
}

func TestConcurrentUse(t *testing.T) {
	c := withResources(newLattice(20, 20, 3, 0.5, 1), 500, 1).load(t)
	pts := queryPoints(c.Bounds(), 1000, 9)
	want := make([]Place, len(pts))
	for i, p := range pts {
		want[i], _ = c.Locate(p)
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			var err error
			for i, p := range pts {
				if pl, _ := c.Locate(p); pl != want[i] {
					err = errors.New("different answer under concurrency")
				}
				_ = c.Nearest(p, kinds[g%len(kinds)], 3)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestShortCodes(t *testing.T) {
	c := newLattice(3, 3, 0, 0.5, 1).load(t)
	if u, ok := c.Unit("321204"); !ok || u.Code != "321204000000" || u.Level != LevelDistrict {
		t.Fatalf("Unit(321204) = %+v, %v", u, ok)
	}
	if n := len(c.Children("321204")); n != 9 {
		t.Fatalf("Children(321204) = %d units", n)
	}
}

// TestHolesAndMultiPolygons: a cell with a hole, an enclave filling the
// hole, and a cell of two parts.
func TestHolesAndMultiPolygons(t *testing.T) {
	const x0, y0, d = 120.0, 32.5, 1.0 / 64
	outer := [][]float64{{x0, y0}, {x0 + 4*d, y0}, {x0 + 4*d, y0 + 4*d}, {x0, y0 + 4*d}, {x0, y0}}
	hole := [][]float64{{x0 + d, y0 + d}, {x0 + d, y0 + 2*d}, {x0 + 2*d, y0 + 2*d}, {x0 + 2*d, y0 + d}, {x0 + d, y0 + d}}
	enclave := [][]float64{{x0 + d, y0 + d}, {x0 + 2*d, y0 + d}, {x0 + 2*d, y0 + 2*d}, {x0 + d, y0 + 2*d}, {x0 + d, y0 + d}}
	district := [][][]float64{{{x0, y0}, {x0 + 8*d, y0}, {x0 + 8*d, y0 + 4*d}, {x0, y0 + 4*d}, {x0, y0}}}
	twoParts := [][][][]float64{
		{{{x0 + 4*d, y0}, {x0 + 8*d, y0}, {x0 + 8*d, y0 + 2*d}, {x0 + 4*d, y0 + 2*d}, {x0 + 4*d, y0}}},
		{{{x0 + 4*d, y0 + 3*d}, {x0 + 8*d, y0 + 3*d}, {x0 + 8*d, y0 + 4*d}, {x0 + 4*d, y0 + 4*d}, {x0 + 4*d, y0 + 3*d}}},
	}
	middle := [][][]float64{{{x0 + 4*d, y0 + 2*d}, {x0 + 8*d, y0 + 2*d}, {x0 + 8*d, y0 + 3*d}, {x0 + 4*d, y0 + 3*d}, {x0 + 4*d, y0 + 2*d}}}
	c, err := Load(fstest.MapFS{
		"district.geojson": {Data: fc(feat(map[string]any{"code": "D", "name": "d"}, "Polygon", district))},
		"grids.geojson": {Data: fc(
			feat(map[string]any{"code": "RING", "name": "ring", "parent": "D"}, "Polygon", [][][]float64{outer, hole}),
			feat(map[string]any{"code": "ENCLAVE", "name": "enclave", "parent": "D"}, "Polygon", [][][]float64{enclave}),
			feat(map[string]any{"code": "PARTS", "name": "parts", "parent": "D"}, "MultiPolygon", twoParts),
			feat(map[string]any{"code": "MIDDLE", "name": "middle", "parent": "D"}, "Polygon", middle),
		)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    orb.Point
		want string
	}{
		{orb.Point{x0 + d/2, y0 + d/2}, "RING"},
		{orb.Point{x0 + 1.5*d, y0 + 1.5*d}, "ENCLAVE"},
		{orb.Point{x0 + d, y0 + 1.5*d}, "ENCLAVE"}, // hole's west edge: east side wins
		{orb.Point{x0 + 2*d, y0 + 1.5*d}, "RING"},  // hole's east edge
		{orb.Point{x0 + 1.5*d, y0 + d}, "ENCLAVE"}, // hole's south edge: north side wins
		{orb.Point{x0 + 1.5*d, y0 + 2*d}, "RING"},  // hole's north edge
		{orb.Point{x0 + 5*d, y0 + d}, "PARTS"},
		{orb.Point{x0 + 5*d, y0 + 3.5*d}, "PARTS"},
		{orb.Point{x0 + 5*d, y0 + 2.5*d}, "MIDDLE"},
		{orb.Point{x0 + 5*d, y0 + 3*d}, "PARTS"},
		{orb.Point{x0 + 4*d, y0 + 1.5*d}, "PARTS"},
	} {
		pl, err := c.Locate(tc.p)
		if err != nil || pl.Grid.Code != tc.want {
			t.Errorf("Locate(%v) = %s, %v; want %s", tc.p, pl.Grid.Code, err, tc.want)
		}
	}
	u, _ := c.Unit("RING")
	if want := 15 * 111.32e3 * d * 111.32e3 * d; u.AreaM2 < want*0.8 || u.AreaM2 > want {
		t.Errorf("ring area %.0f m², want a little under %.0f (the hole is subtracted)", u.AreaM2, want)
	}
}
