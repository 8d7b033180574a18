package gis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/citybrain-ioc/citybrain/gis/crs"
	"github.com/paulmach/orb"
)

// Layer files. Load reads a directory (any fs.FS) holding these GeoJSON
// FeatureCollections (RFC 7946). Only district.geojson is required.
//
//	city.json          optional manifest: {"name": "泰州市姜堰区", "code": "321204",
//	                   "crs": "wgs84", "year": 2023, "sources": [...]}. "crs" names
//	                   the coordinate system of every layer (wgs84, gcj02 or bd09;
//	                   default wgs84); layers in gcj02/bd09 are converted on load.
//	district.geojson   Polygon/MultiPolygon, one feature per district (区/县).
//	towns.geojson      Polygon/MultiPolygon, towns and streets (乡镇/街道).
//	villages.geojson   Polygon/MultiPolygon, villages and communities (村/社区).
//	grids.geojson      Polygon/MultiPolygon, grid cells (网格).
//	roads.geojson      LineString/MultiLineString.
//	resources.geojson  Point.
//
// Properties of the four administrative layers:
//
//	code       required, string or number: the unit's code (12-digit GB/T 2260
//	           style codes for districts, towns and villages; grid codes extend
//	           the village code, e.g. 15 digits). "adcode" is accepted too, as
//	           DataV files use it.
//	name       required.
//	parent     code of the containing unit in a coarser layer (also accepted:
//	           "parent_code", or DataV's {"adcode": …} object). If absent, the
//	           parent is found from the geometry.
//	schematic  bool: the boundary is generated, not surveyed (示意).
//	aliases    optional array of other names, for the geocoder.
//
// Roads: id, name, kind (e.g. "arterial"), schematic, aliases. Resources: id,
// kind (e.g. "fire_station", "hospital", "police", "shelter",
// "water_sensor", "smoke_sensor", "camera"), name, schematic, aliases,
// address. Any other property is kept and served with the layer.
//
// Every problem found is reported, with layer file, feature index, code and
// detail, in one *ValidationError.
const (
	fileCity      = "city.json"
	fileDistrict  = "district.geojson"
	fileTowns     = "towns.geojson"
	fileVillages  = "villages.geojson"
	fileGrids     = "grids.geojson"
	fileRoads     = "roads.geojson"
	fileResources = "resources.geojson"
)

// Meta describes a loaded city, from city.json.
type Meta struct {
	Name    string   `json:"name,omitempty"`
	Code    string   `json:"code,omitempty"`
	CRS     string   `json:"crs,omitempty"`  // coordinate system of the files; the City is always WGS-84
	Year    int      `json:"year,omitempty"` // data year of the administrative codes
	Sources []string `json:"sources,omitempty"`
}

var levels = [...]Level{LevelDistrict, LevelTown, LevelVillage, LevelGrid}

var levelFile = map[Level]string{
	LevelDistrict: fileDistrict,
	LevelTown:     fileTowns,
	LevelVillage:  fileVillages,
	LevelGrid:     fileGrids,
}

var layerOfLevel = map[Level]string{
	LevelDistrict: "district",
	LevelTown:     "towns",
	LevelVillage:  "villages",
	LevelGrid:     "grids",
}

func levelRank(l Level) int { return slices.Index(levels[:], l) }

// num is a JSON number that tolerates out-of-range values (decoded as ±Inf)
// and the strings "NaN"/"Infinity", so that they are reported as problems
// of one feature instead of failing the whole file.
type num float64

func (n *num) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) > 1 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("bad coordinate %s", b)
	}
	*n = num(f)
	return nil
}

type rawFC struct {
	Type     string       `json:"type"`
	Features []rawFeature `json:"features"`
	CRS      *struct {
		Properties struct {
			Name string `json:"name"`
		} `json:"properties"`
	} `json:"crs"`
}

type rawFeature struct {
	ID         json.RawMessage            `json:"id"`
	Geometry   *rawGeometry               `json:"geometry"`
	Properties map[string]json.RawMessage `json:"properties"`
}

type rawGeometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

type loader struct {
	fsys     fs.FS
	from     crs.System
	problems []*Problem
	bad      map[string]bool // codes of features already reported
}

func (l *loader) add(layer string, feature int, code string, kind error, format string, args ...any) {
	l.problems = append(l.problems, &Problem{Layer: layer, Feature: feature, Code: code, Kind: kind, Detail: fmt.Sprintf(format, args...)})
	if code != "" {
		l.bad[code] = true
	}
}

// readLayer reads one FeatureCollection; ok is false if the file is absent.
func (l *loader) readLayer(file string) (*rawFC, bool, error) {
	b, err := fs.ReadFile(l.fsys, file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("gis: read %s: %w", file, err)
	}
	var fc rawFC
	if err := json.Unmarshal(b, &fc); err != nil || fc.Type != "FeatureCollection" {
		detail := "type is not FeatureCollection"
		if err != nil {
			detail = err.Error()
		}
		l.add(file, -1, "", ErrBadJSON, "%s", detail)
		return nil, false, nil
	}
	if fc.CRS != nil {
		name := strings.ToUpper(fc.CRS.Properties.Name)
		if !strings.Contains(name, "CRS84") && !strings.Contains(name, "4326") {
			l.add(file, -1, "", ErrOutOfRange, "layer declares crs %q; layers must be WGS-84 (or set crs in city.json)", fc.CRS.Properties.Name)
		}
	}
	return &fc, true, nil
}

func propString(p map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		v, ok := p[k]
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || string(v) == "null" {
			continue
		}
		if v[0] == '"' {
			var s string
			if json.Unmarshal(v, &s) == nil && strings.TrimSpace(s) != "" {
				return strings.TrimSpace(s)
			}
			continue
		}
		if v[0] == '{' { // DataV: "parent": {"adcode": 350200}
			var m map[string]json.RawMessage
			if json.Unmarshal(v, &m) == nil {
				if s := propString(m, "adcode", "code"); s != "" {
					return s
				}
			}
			continue
		}
		if (v[0] >= '0' && v[0] <= '9') || v[0] == '-' {
			return string(v)
		}
	}
	return ""
}

func propBool(p map[string]json.RawMessage, key string) bool {
	switch strings.Trim(string(bytes.TrimSpace(p[key])), `"`) {
	case "true", "1", "yes":
		return true
	}
	return false
}

func propStrings(p map[string]json.RawMessage, key string) []string {
	var out []string
	if v, ok := p[key]; ok {
		_ = json.Unmarshal(v, &out)
	}
	return out
}

// position decodes, checks and converts one position.
func (l *loader) position(raw []num, layer string, fi int, code string) (orb.Point, bool) {
	if len(raw) < 2 {
		l.add(layer, fi, code, ErrTooFewPoints, "position with %d numbers", len(raw))
		return orb.Point{}, false
	}
	p := orb.Point{float64(raw[0]), float64(raw[1])}
	if kind, detail := checkPosition(p); kind != nil {
		l.add(layer, fi, code, kind, "%s", detail)
		return p, false
	}
	return crs.ToWGS84(p, l.from), true
}

// rings decodes the rings of one polygon, checking closure and size, and
// drops repeated consecutive positions.
func (l *loader) rings(raw [][][]num, layer string, fi int, code string) (orb.Polygon, bool) {
	ok := true
	var poly orb.Polygon
	for ri, rr := range raw {
		ring := make(orb.Ring, 0, len(rr))
		rawFirst, rawLast := orb.Point{}, orb.Point{}
		for pi, pos := range rr {
			p, good := l.position(pos, layer, fi, code)
			if !good {
				ok = false
				break
			}
			if len(pos) >= 2 {
				if pi == 0 {
					rawFirst = orb.Point{float64(pos[0]), float64(pos[1])}
				}
				rawLast = orb.Point{float64(pos[0]), float64(pos[1])}
			}
			if len(ring) > 0 && ring[len(ring)-1] == p {
				continue
			}
			ring = append(ring, p)
		}
		if !ok {
			return nil, false
		}
		if len(rr) < 4 {
			l.add(layer, fi, code, ErrTooFewPoints, "ring %d has %d positions, a closed ring needs at least 4", ri, len(rr))
			return nil, false
		}
		if rawFirst != rawLast {
			l.add(layer, fi, code, ErrUnclosedRing, "ring %d starts at %v and ends at %v", ri, rawFirst, rawLast)
			return nil, false
		}
		if len(ring) < 4 {
			l.add(layer, fi, code, ErrZeroArea, "ring %d has fewer than 3 distinct positions", ri)
			return nil, false
		}
		// Converting from GCJ-02 can split a closed ring's two ends by
		// rounding; close it exactly.
		ring[len(ring)-1] = ring[0]
		poly = append(poly, ring)
	}
	if len(poly) == 0 {
		l.add(layer, fi, code, ErrTooFewPoints, "polygon without rings")
		return nil, false
	}
	return poly, ok
}

func (l *loader) polygonal(g *rawGeometry, layer string, fi int, code string) (orb.MultiPolygon, bool) {
	if g == nil {
		l.add(layer, fi, code, ErrGeometryType, "no geometry")
		return nil, false
	}
	switch g.Type {
	case "Polygon":
		var raw [][][]num
		if err := json.Unmarshal(g.Coordinates, &raw); err != nil {
			l.add(layer, fi, code, ErrGeometryType, "Polygon coordinates: %v", err)
			return nil, false
		}
		p, ok := l.rings(raw, layer, fi, code)
		return orb.MultiPolygon{p}, ok
	case "MultiPolygon":
		var raw [][][][]num
		if err := json.Unmarshal(g.Coordinates, &raw); err != nil {
			l.add(layer, fi, code, ErrGeometryType, "MultiPolygon coordinates: %v", err)
			return nil, false
		}
		var mp orb.MultiPolygon
		for _, rp := range raw {
			p, ok := l.rings(rp, layer, fi, code)
			if !ok {
				return nil, false
			}
			mp = append(mp, p)
		}
		if len(mp) == 0 {
			l.add(layer, fi, code, ErrTooFewPoints, "MultiPolygon without polygons")
			return nil, false
		}
		return mp, true
	}
	l.add(layer, fi, code, ErrGeometryType, "%q, want Polygon or MultiPolygon", g.Type)
	return nil, false
}

func (l *loader) lineal(g *rawGeometry, layer string, fi int, code string) (orb.MultiLineString, bool) {
	if g == nil {
		l.add(layer, fi, code, ErrGeometryType, "no geometry")
		return nil, false
	}
	var raw [][][]num
	switch g.Type {
	case "LineString":
		var one [][]num
		if err := json.Unmarshal(g.Coordinates, &one); err != nil {
			l.add(layer, fi, code, ErrGeometryType, "LineString coordinates: %v", err)
			return nil, false
		}
		raw = [][][]num{one}
	case "MultiLineString":
		if err := json.Unmarshal(g.Coordinates, &raw); err != nil {
			l.add(layer, fi, code, ErrGeometryType, "MultiLineString coordinates: %v", err)
			return nil, false
		}
	default:
		l.add(layer, fi, code, ErrGeometryType, "%q, want LineString or MultiLineString", g.Type)
		return nil, false
	}
	var out orb.MultiLineString
	for _, rl := range raw {
		var ls orb.LineString
		for _, pos := range rl {
			p, ok := l.position(pos, layer, fi, code)
			if !ok {
				return nil, false
			}
			if len(ls) > 0 && ls[len(ls)-1] == p {
				continue
			}
			ls = append(ls, p)
		}
		if len(ls) < 2 {
			l.add(layer, fi, code, ErrTooFewPoints, "line with fewer than 2 distinct positions")
			return nil, false
		}
		out = append(out, ls)
	}
	return out, len(out) > 0
}

// Load reads, validates and indexes a city from the layer files described
// above. It returns a *ValidationError listing every problem if any layer is
// invalid. The City it returns is immutable and safe for concurrent use.
func Load(fsys fs.FS) (*City, error) {
	l := &loader{fsys: fsys, from: crs.WGS84, bad: map[string]bool{}}
	c := &City{byCode: map[string]int{}, layers: map[string][]byte{}}
	if b, err := fs.ReadFile(fsys, fileCity); err == nil {
		if err := json.Unmarshal(b, &c.meta); err != nil {
			l.add(fileCity, -1, "", ErrBadJSON, "%v", err)
		} else if sys, err := crs.Parse(c.meta.CRS); err != nil {
			l.add(fileCity, -1, "", ErrOutOfRange, "%v", err)
		} else {
			l.from = sys
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("gis: read %s: %w", fileCity, err)
	}
	if c.meta.CRS == "" {
		c.meta.CRS = string(crs.WGS84)
	}

	for _, lv := range levels {
		file := levelFile[lv]
		fc, ok, err := l.readLayer(file)
		if err != nil {
			return nil, err
		}
		if !ok {
			if lv == LevelDistrict && !slices.ContainsFunc(l.problems, func(p *Problem) bool { return p.Layer == file }) {
				l.add(file, -1, "", ErrMissingLayer, "the district layer is required")
			}
			continue
		}
		c.loadAdmin(l, lv, file, fc)
	}
	c.linkParents(l)
	if fc, ok, err := l.readLayer(fileRoads); err != nil {
		return nil, err
	} else if ok {
		c.loadRoads(l, fc)
	}
	if fc, ok, err := l.readLayer(fileResources); err != nil {
		return nil, err
	} else if ok {
		c.loadResources(l, fc)
	}
	if len(l.problems) > 0 {
		return nil, &ValidationError{Problems: l.problems}
	}
	c.build()
	return c, nil
}

func (c *City) loadAdmin(l *loader, lv Level, file string, fc *rawFC) {
	rank := levelRank(lv)
	for fi, f := range fc.Features {
		code := propString(f.Properties, "code", "adcode")
		name := propString(f.Properties, "name")
		bad := false
		if code == "" {
			l.add(file, fi, "", ErrMissingCode, "property \"code\" is empty")
			bad = true
		} else if prev, dup := c.byCode[code]; dup {
			l.add(file, fi, code, ErrDuplicateCode, "also used by %s %s", c.units[prev].level, c.units[prev].Name)
			bad = true
		}
		if name == "" {
			l.add(file, fi, code, ErrMissingName, "property \"name\" is empty")
			bad = true
		}
		geom, ok := l.polygonal(f.Geometry, file, fi, code)
		if !ok {
			continue
		}
		rings := polygonRings(geom)
		if si := selfIntersections(rings, 3); len(si) > 0 {
			for _, d := range si {
				l.add(file, fi, code, ErrSelfIntersection, "%s", d)
			}
			continue
		}
		if ri := slices.IndexFunc(rings, func(r orb.Ring) bool { return ringArea(r) == 0 }); ri >= 0 {
			l.add(file, fi, code, ErrZeroArea, "ring %d", ri)
			continue
		}
		if bad {
			continue
		}
		u := unit{
			Unit:       Unit{Code: code, Name: name, Schematic: propBool(f.Properties, "schematic")},
			level:      lv,
			rank:       rank,
			file:       file,
			feature:    fi,
			parentCode: propString(f.Properties, "parent", "parent_code"),
			parent:     -1,
			aliases:    propStrings(f.Properties, "aliases"),
			geom:       geom,
			shape:      newShape(rings),
			props:      f.Properties,
		}
		c.byCode[code] = len(c.units)
		c.levels[rank].units = append(c.levels[rank].units, len(c.units))
		c.units = append(c.units, u)
	}
}

// linkParents resolves each unit's parent and checks that it lies inside it.
func (c *City) linkParents(l *loader) {
	for rank := 1; rank < len(levels); rank++ {
		// The nearest coarser level that is present.
		up := -1
		for r := rank - 1; r >= 0; r-- {
			if len(c.levels[r].units) > 0 {
				up = r
				break
			}
		}
		if up < 0 {
			continue
		}
		for _, ui := range c.levels[rank].units {
			u := &c.units[ui]
			if u.parentCode != "" {
				pi, ok := c.byCode[u.parentCode]
				if !ok || c.units[pi].rank >= u.rank {
					if l.bad[u.parentCode] {
						continue // the parent's own problem is reported already
					}
					l.add(u.file, u.feature, u.Code, ErrUnknownParent, "no coarser unit has code %q", u.parentCode)
					continue
				}
				u.parent = pi
			} else {
				// No parent given: the coarser unit containing an interior point.
				p := interiorPoint(u.geom, u.shape)
				for _, pi := range c.levels[up].units {
					if c.units[pi].shape.contains(p) {
						u.parent = pi
						break
					}
				}
				if u.parent < 0 {
					l.add(u.file, u.feature, u.Code, ErrUnknownParent, "no parent given and none contains %v", p)
					continue
				}
				u.parentCode = c.units[u.parent].Code
			}
			par := &c.units[u.parent]
			if v, ok := firstOutside(u.geom, par); !ok {
				l.add(u.file, u.feature, u.Code, ErrNotInParent, "vertex %v is outside %s %s (%s)", v, par.level, par.Name, par.Code)
			}
		}
	}
}

// firstOutside returns the first vertex of g farther than NestingTolerance
// outside parent, and false; or true if all are inside.
func firstOutside(g orb.MultiPolygon, parent *unit) (orb.Point, bool) {
	prings := polygonRings(parent.geom)
	for _, poly := range g {
		for _, r := range poly {
			for _, v := range r {
				if !parent.shape.contains(v) && !nearBoundary(prings, v, NestingTolerance) {
					return orb.Point{round7(v[0]), round7(v[1])}, false
				}
			}
		}
	}
	return orb.Point{}, true
}

// interiorPoint returns a point strictly inside the geometry: the centroid
// of the largest part if it is inside, else the middle of the widest
// inside stretch of the horizontal line through it.
func interiorPoint(g orb.MultiPolygon, s *shape) orb.Point {
	var best orb.Polygon
	bestA := -1.0
	for _, p := range g {
		if a := math.Abs(ringArea(p[0])); a > bestA {
			best, bestA = p, a
		}
	}
	c := polygonCentroid(best)
	if s.contains(c) && !nearBoundary(best, c, 1e-9) {
		return c
	}
	y := c[1]
	var xs []float64
	for _, r := range best {
		for i := 0; i+1 < len(r); i++ {
			a, b := r[i], r[i+1]
			if (a[1] <= y) != (b[1] <= y) {
				xs = append(xs, a[0]+(y-a[1])*(b[0]-a[0])/(b[1]-a[1]))
			}
		}
	}
	slices.Sort(xs)
	bestW := -1.0
	for i := 0; i+1 < len(xs); i += 2 {
		if w := xs[i+1] - xs[i]; w > bestW {
			bestW, c = w, orb.Point{(xs[i] + xs[i+1]) / 2, y}
		}
	}
	return c
}

// polygonCentroid is the planar area centroid of a polygon's outer ring
// minus its holes.
func polygonCentroid(p orb.Polygon) orb.Point {
	var cx, cy, a float64
	for _, r := range p {
		for i := 0; i+1 < len(r); i++ {
			// Relative to the first vertex, for precision.
			x0, y0 := r[i][0]-p[0][0][0], r[i][1]-p[0][0][1]
			x1, y1 := r[i+1][0]-p[0][0][0], r[i+1][1]-p[0][0][1]
			k := x0*y1 - x1*y0
			a += k
			cx += (x0 + x1) * k
			cy += (y0 + y1) * k
		}
	}
	if a == 0 {
		return p[0][0]
	}
	return orb.Point{p[0][0][0] + cx/(3*a), p[0][0][1] + cy/(3*a)}
}

func (c *City) loadRoads(l *loader, fc *rawFC) {
	for fi, f := range fc.Features {
		id := propString(f.Properties, "id")
		if id == "" {
			id = strings.Trim(string(f.ID), `"`)
		}
		if id == "" {
			id = "road-" + strconv.Itoa(fi)
		}
		lines, ok := l.lineal(f.Geometry, fileRoads, fi, id)
		if !ok {
			continue
		}
		c.roads = append(c.roads, road{
			Road:    Road{ID: id, Name: propString(f.Properties, "name"), Kind: propString(f.Properties, "kind"), Schematic: propBool(f.Properties, "schematic")},
			Lines:   lines,
			aliases: propStrings(f.Properties, "aliases"),
			props:   f.Properties,
		})
	}
}

func (c *City) loadResources(l *loader, fc *rawFC) {
	ids := map[string]bool{}
	for fi, f := range fc.Features {
		id := propString(f.Properties, "id")
		if id == "" {
			id = strings.Trim(string(f.ID), `"`)
		}
		kind := propString(f.Properties, "kind")
		name := propString(f.Properties, "name")
		switch {
		case id == "":
			l.add(fileResources, fi, "", ErrMissingCode, "property \"id\" is empty")
			continue
		case ids[id]:
			l.add(fileResources, fi, id, ErrDuplicateCode, "id used twice")
			continue
		case kind == "":
			l.add(fileResources, fi, id, ErrMissingKind, "property \"kind\" is empty")
			continue
		case name == "":
			l.add(fileResources, fi, id, ErrMissingName, "property \"name\" is empty")
			continue
		}
		ids[id] = true
		if f.Geometry == nil || f.Geometry.Type != "Point" {
			t := "none"
			if f.Geometry != nil {
				t = f.Geometry.Type
			}
			l.add(fileResources, fi, id, ErrGeometryType, "%q, want Point", t)
			continue
		}
		var raw []num
		if err := json.Unmarshal(f.Geometry.Coordinates, &raw); err != nil {
			l.add(fileResources, fi, id, ErrGeometryType, "Point coordinates: %v", err)
			continue
		}
		p, ok := l.position(raw, fileResources, fi, id)
		if !ok {
			continue
		}
		c.resources = append(c.resources, resource{
			Resource: Resource{ID: id, Kind: kind, Name: name, Point: p, Schematic: propBool(f.Properties, "schematic"), Address: propString(f.Properties, "address")},
			aliases:  propStrings(f.Properties, "aliases"),
			props:    f.Properties,
		})
	}
}
