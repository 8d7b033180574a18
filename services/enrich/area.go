package enrich

import (
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/services/event"
)

// AreaPlaces is what placing a warning area needs of the GIS.
type AreaPlaces interface {
	Locate(p orb.Point) (gis.Place, error)
	Within(area orb.Geometry) ([]gis.Unit, []gis.Nearby)
	Unit(code string) (gis.UnitInfo, bool)
}

// PlaceArea resolves the warning area of a CAP report against the city:
// its polygons and circles, plus the units its geocodes name (GB/T 2260
// codes of 6, 9 or 12 digits), give the grid cells inside it
// (AffectedGrids), a representative point inside the city (Location) and
// the place of that point. It reports false when no part of the area is
// in the service area.
func PlaceArea(c AreaPlaces, ev *event.Event) bool {
	var mp orb.MultiPolygon
	if ev.Area != nil {
		switch g := ev.Area.Geometry().(type) {
		case orb.MultiPolygon:
			mp = append(mp, g...)
		case orb.Polygon:
			mp = append(mp, g)
		}
	}
	for _, code := range ev.AreaCodes {
		if u, ok := c.Unit(adminCode(code)); ok {
			mp = append(mp, u.Geom...)
		}
	}
	if len(mp) == 0 {
		return false
	}
	grids, _ := c.Within(mp)
	if len(grids) == 0 {
		return false
	}
	ev.AffectedGrids = ev.AffectedGrids[:0]
	for _, g := range grids {
		ev.AffectedGrids = append(ev.AffectedGrids, g.Code)
	}
	ev.Area = geojson.NewGeometry(mp)
	p, _ := planar.CentroidArea(mp)
	if _, err := c.Locate(p); err != nil {
		if u, ok := c.Unit(grids[0].Code); ok {
			p = u.Centre
		}
	}
	ev.Location = &event.Point{Lon: p[0], Lat: p[1]}
	if place, err := c.Locate(p); err == nil {
		ev.Place = place
	}
	return true
}

// adminCode pads a GB/T 2260 code to the 12 digits the city uses.
func adminCode(s string) string {
	s = strings.TrimSpace(s)
	switch len(s) {
	case 6:
		return s + "000000"
	case 9:
		return s + "000"
	}
	return s
}
