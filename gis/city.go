package gis

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/paulmach/orb"
)

// City is a loaded, validated and indexed city: its administrative units
// (district → town/street → village/community → grid cell), roads and
// resources, all in WGS-84. A City is immutable after Load and safe for
// concurrent use by any number of goroutines.
type City struct {
	meta      Meta
	units     []unit
	byCode    map[string]int
	levels    [len(levels)]levelData
	roads     []road
	resources []resource
	kinds     map[string]*kdTree // per resource kind
	allKinds  *kdTree
	places    []Place // by unit index, precomputed: Locate only copies one
	layers    map[string][]byte
	zoom      zoomLayers
	names     []string
	bound     orb.Bound
	gaz       *gazetteer
}

type levelData struct {
	units []int // indexes into City.units, in file order
	index *polyIndex
}

// unit is an administrative unit as loaded.
type unit struct {
	Unit
	level      Level
	rank       int
	file       string
	feature    int
	parentCode string
	parent     int // index in City.units, or -1
	aliases    []string
	geom       orb.MultiPolygon
	shape      *shape
	centre     orb.Point // a point inside the unit, for labels and the geocoder
	areaM2     float64
	props      map[string]json.RawMessage
}

// Road is one line of the road layer (WGS-84). A MultiLineString feature
// becomes one Road per part, all with the feature's ID.
type Road struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Kind      string         `json:"kind,omitempty"`
	Schematic bool           `json:"schematic,omitempty"`
	Line      orb.LineString `json:"line"`
}

type road struct {
	Road    // without Line
	Lines   orb.MultiLineString
	aliases []string
	props   map[string]json.RawMessage
}

// Resource is a point of the resources layer: a fire station, hospital,
// police post, shelter, sensor or camera.
type Resource struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Point     orb.Point `json:"point"`
	Schematic bool      `json:"schematic,omitempty"`
	Address   string    `json:"address,omitempty"`
	Grid      string    `json:"grid,omitempty"` // code of the finest unit containing it
}

type resource struct {
	Resource
	aliases []string
	props   map[string]json.RawMessage
}

func (c *City) build() {
	first := true
	for rank := range c.levels {
		ld := &c.levels[rank]
		shapes := make([]*shape, len(ld.units))
		for i, ui := range ld.units {
			u := &c.units[ui]
			shapes[i] = u.shape
			u.centre = interiorPoint(u.geom, u.shape)
			u.areaM2 = areaM2(u.geom)
			if first {
				c.bound = u.shape.bound
				first = false
			} else {
				c.bound = c.bound.Union(u.shape.bound)
			}
		}
		ld.index = newPolyIndex(shapes)
	}
	c.places = make([]Place, len(c.units))
	for i := range c.units {
		c.places[i] = c.placeOf(i)
	}
	for i := range c.resources {
		r := &c.resources[i]
		if u := c.locateUnit(r.Point); u >= 0 {
			r.Grid = c.units[u].Code
		}
	}
	c.buildNearest()
	c.encodeLayers()
	c.initZoom()
	c.gaz = newGazetteer(c)
}

// locateUnit returns the finest unit containing p, or -1. It tries the
// finest level first (one index lookup for a point inside), then the
// coarsest (one more for a point outside the city), then the levels
// between (only in cities whose finer layers do not cover everything).
func (c *City) locateUnit(p orb.Point) int {
	var present [len(levels)]int
	n := 0
	for rank := len(c.levels) - 1; rank >= 0; rank-- {
		if len(c.levels[rank].units) > 0 {
			present[n] = rank
			n++
		}
	}
	if n == 0 {
		return -1
	}
	try := func(rank int) int {
		ld := &c.levels[rank]
		if i := ld.index.lookup(p); i >= 0 {
			return ld.units[i]
		}
		return -1
	}
	if u := try(present[0]); u >= 0 || n == 1 {
		return u
	}
	top := try(present[n-1])
	if top < 0 {
		return -1
	}
	for _, rank := range present[1 : n-1] {
		if u := try(rank); u >= 0 {
			return u
		}
	}
	return top
}

// Locate returns the administrative hierarchy of p (WGS-84 [lon, lat]):
// district, town, village and grid cell with codes and names. It returns
// ErrOutside for a point outside every district.
//
// The finest layer is searched first and the coarser levels are taken from
// its parents, so the levels of a Place always agree. If the finest layers
// do not cover the point (a city with grid cells in only some villages)
// the deeper fields of the Place are left empty.
//
// A point on a boundary shared by two units belongs to exactly one of them,
// always the same one: the unit to its east, or to its north if the
// boundary runs east–west (see shape for the rule). So a point on the
// district's east or north boundary is outside and one on its west or
// south boundary is inside.
//
// Locate does not allocate and takes tens of nanoseconds: see polyIndex.
func (c *City) Locate(p orb.Point) (Place, error) {
	u := c.locateUnit(p)
	if u < 0 {
		return Place{}, ErrOutside
	}
	return c.places[u], nil
}

// placeOf builds the Place of unit u from its ancestors.
func (c *City) placeOf(u int) Place {
	var pl Place
	for ; u >= 0; u = c.units[u].parent {
		x := &c.units[u]
		switch x.level {
		case LevelDistrict:
			pl.District = x.Unit
		case LevelTown:
			pl.Town = x.Unit
		case LevelVillage:
			pl.Village = x.Unit
		case LevelGrid:
			pl.Grid = x.Unit
		}
	}
	return pl
}

// Units returns every unit of a level in layer order (nil for a level the
// city does not have). The slice is a copy.
func (c *City) Units(level Level) []Unit {
	r := levelRank(level)
	if r < 0 {
		return nil
	}
	out := make([]Unit, len(c.levels[r].units))
	for i, ui := range c.levels[r].units {
		out[i] = c.units[ui].Unit
	}
	return out
}

// UnitInfo is everything the City knows about one unit.
type UnitInfo struct {
	Unit
	Level   Level            `json:"level"`
	Parent  string           `json:"parent,omitempty"`
	Aliases []string         `json:"aliases,omitempty"`
	Centre  orb.Point        `json:"centre"` // a point inside the unit
	AreaM2  float64          `json:"area_m2"`
	Bound   orb.Bound        `json:"-"`
	Geom    orb.MultiPolygon `json:"-"`
}

// lookupCode finds a unit by code. The short statistical forms of the
// 12-digit codes are accepted too: "321204" (county) and "321204001"
// (town) find 321204000000 and 321204001000.
func (c *City) lookupCode(code string) (int, bool) {
	if i, ok := c.byCode[code]; ok {
		return i, true
	}
	if n := len(code); (n == 6 || n == 9) && strings.Trim(code, "0123456789") == "" {
		i, ok := c.byCode[code+strings.Repeat("0", 12-n)]
		return i, ok
	}
	return 0, false
}

// Unit returns the unit with the given code (short 6- and 9-digit forms
// accepted, see lookupCode).
func (c *City) Unit(code string) (UnitInfo, bool) {
	i, ok := c.lookupCode(code)
	if !ok {
		return UnitInfo{}, false
	}
	u := &c.units[i]
	return UnitInfo{Unit: u.Unit, Level: u.level, Parent: u.parentCode, Aliases: u.aliases, Centre: u.centre, AreaM2: u.areaM2, Bound: u.shape.bound, Geom: u.geom}, true
}

// Children returns the units whose parent has the given code.
func (c *City) Children(code string) []Unit {
	pi, ok := c.lookupCode(code)
	if !ok {
		return nil
	}
	var out []Unit
	for r := c.units[pi].rank + 1; r < len(c.levels); r++ {
		for _, ui := range c.levels[r].units {
			if c.units[ui].parent == pi {
				out = append(out, c.units[ui].Unit)
			}
		}
	}
	return out
}

// RandomPointIn returns a uniformly random point inside the unit with the
// given code (uniform in longitude and latitude, which over a unit a few
// kilometres across is uniform in area to within a part in ten thousand).
// The point is one Locate puts in that unit. It returns false for an
// unknown code. r must not be shared between goroutines.
func (c *City) RandomPointIn(code string, r *rand.Rand) (orb.Point, bool) {
	i, ok := c.lookupCode(code)
	if !ok {
		return orb.Point{}, false
	}
	u := &c.units[i]
	b := u.shape.bound
	for range 10000 {
		p := orb.Point{b.Min[0] + r.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + r.Float64()*(b.Max[1]-b.Min[1])}
		if !u.shape.contains(p) {
			continue
		}
		// In a city whose layers overlap, the point must also be one Locate
		// gives to this unit.
		if j := c.levels[u.rank].index.lookup(p); j >= 0 && c.levels[u.rank].units[j] == i {
			return p, true
		}
	}
	return u.centre, true
}

// Bounds returns the bounding box of the city's administrative layers.
func (c *City) Bounds() orb.Bound { return c.bound }

// Meta returns the city's metadata from city.json.
func (c *City) Meta() Meta { return c.meta }

// Roads returns the road layer, one Road per line.
func (c *City) Roads() []Road {
	var out []Road
	for _, r := range c.roads {
		for _, ls := range r.Lines {
			x := r.Road
			x.Line = ls
			out = append(out, x)
		}
	}
	return out
}

// Resources returns every resource of the given kind ("" for all).
func (c *City) Resources(kind string) []Resource {
	var out []Resource
	for _, r := range c.resources {
		if kind == "" || r.Kind == kind {
			out = append(out, r.Resource)
		}
	}
	return out
}

// Layer returns the named layer ("district", "towns", "villages", "grids",
// "roads", "resources") as a pre-encoded GeoJSON FeatureCollection in
// WGS-84, with properties code, name, level, parent, schematic, label (a
// [lon, lat] inside the unit, for map labels) and area_km2 (roads and
// resources: id, name, kind, level, schematic), plus any other property
// the source file had. The bytes are shared: do not modify them.
func (c *City) Layer(name string) ([]byte, bool) {
	b, ok := c.layers[name]
	return b, ok
}

// LayerNames lists the layers Layer serves, coarsest first.
func (c *City) LayerNames() []string { return append([]string(nil), c.names...) }

// areaM2 is the area of a polygonal geometry in square metres, by the
// shoelace formula in the sinusoidal projection (x = R·Δλ·cos φ, y = R·φ),
// which is equal-area: areas of units that tile a parent add up to the
// parent's.
func areaM2(g orb.MultiPolygon) float64 {
	const k = math.Pi / 180
	var a float64
	for _, p := range g {
		if len(p) == 0 || len(p[0]) == 0 {
			continue
		}
		lon0 := p[0][0][0]
		for ri, r := range p {
			var s float64
			for i := 0; i+1 < len(r); i++ {
				x0, y0 := (r[i][0]-lon0)*math.Cos(r[i][1]*k), r[i][1]
				x1, y1 := (r[i+1][0]-lon0)*math.Cos(r[i+1][1]*k), r[i+1][1]
				s += x0*y1 - x1*y0
			}
			s = math.Abs(s/2) * earthRadius * earthRadius * k * k
			if ri == 0 {
				a += s
			} else {
				a -= s
			}
		}
	}
	return a
}

const earthRadius = orb.EarthRadius
