package intake

import (
	"math"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
)

// capCategory maps CAP categories to the taxonomy.
var capCategory = map[string]string{
	"Met": "emergency.weather", "Geo": "emergency.geo", "Safety": "emergency.safety_hazard",
	"Security": "emergency.public_security", "Rescue": "emergency.safety_hazard", "Fire": "emergency.fire",
	"Health": "emergency.medical", "Env": "city.environment.pollution", "Transport": "traffic.closure",
	"Infra": "city.component.facility", "CBRNE": "emergency.safety_hazard", "Other": "emergency.safety_hazard",
}

// capSeverity maps CAP severity to levels I–IV.
var capSeverity = map[string]int{"Extreme": 1, "Severe": 2, "Moderate": 3, "Minor": 4, "Unknown": 4}

// colourSeverity maps warning colours (预警颜色, GB/T 35965.1 profiles) to levels.
var colourSeverity = map[string]int{"红": 1, "橙": 2, "黄": 3, "蓝": 4, "red": 1, "orange": 2, "yellow": 3, "blue": 4}

// CAPReport turns a parsed alert into a report for the emergency source.
// Areas are joined into one MultiPolygon (circles as 32-gons); geocodes
// are kept as AreaCodes for the enricher to resolve against the city.
// Location is left nil: the enricher places the alert inside its area.
func CAPReport(a Alert, received time.Time) Report {
	r := Report{
		Schema: event.Schema, Source: event.Emergency, SourceRef: a.Identifier, ID: event.EventID(event.Emergency, a.Identifier),
		Kind: a.MsgType, OccurredAt: a.Sent, ReceivedAt: received.UTC(), OriginalCRS: "wgs84",
		Reporter: event.Reporter{Name: a.Sender},
	}
	for _, ref := range a.References {
		r.References = append(r.References, event.EventID(event.Emergency, ref.Identifier))
	}
	info, ok := a.Main()
	code := "emergency.weather"
	if ok && len(info.Categories) > 0 && capCategory[info.Categories[0]] != "" {
		code = capCategory[info.Categories[0]]
	}
	cat, _ := taxonomy.Lookup(code)
	r.Category, r.CategoryName, r.Department, r.Severity = cat.Code, cat.Name, cat.Department, cat.Severity
	if !ok {
		r.Title = a.MsgType + " " + a.Identifier
		return r
	}
	if s, ok := capSeverity[info.Severity]; ok {
		r.Severity = s
	}
	for _, k := range []string{"alert_color", "预警颜色", "color", "colour", "awareness_level"} {
		v := strings.ToLower(info.Parameters[k])
		for name, s := range colourSeverity {
			if v != "" && strings.Contains(v, name) {
				r.Severity = s
			}
		}
	}
	r.Title = firstNonEmpty(info.Headline, info.Event)
	if a.Status == "Exercise" {
		r.Title = "【演练】" + r.Title
	}
	r.Description = strings.TrimSpace(info.Description + "\n" + info.Instruction)
	if !info.Onset.IsZero() {
		r.OccurredAt = info.Onset
	}
	if !info.Expires.IsZero() {
		exp := info.Expires
		r.Expires = &exp
	}
	var mp orb.MultiPolygon
	var descs []string
	for _, ar := range info.Areas {
		descs = append(descs, ar.Desc)
		mp = append(mp, ar.Polygons...)
		for _, c := range ar.Circles {
			mp = append(mp, circlePolygon(c))
		}
		for _, g := range ar.Geocodes {
			r.AreaCodes = append(r.AreaCodes, g.Value)
		}
	}
	r.Address = truncate(strings.Join(descs, "、"), maxAddr)
	if len(mp) > 0 {
		r.Area = geojsonGeometry(mp)
	}
	return r
}

// circlePolygon approximates a circle by a 32-gon (a point for radius 0
// becomes a 50 m circle, so it still covers a grid cell).
func circlePolygon(c Circle) orb.Polygon {
	r := math.Max(c.RadiusM, 50)
	ring := make(orb.Ring, 0, 33)
	for i := 0; i < 32; i++ {
		ring = append(ring, geo.PointAtBearingAndDistance(c.Centre, float64(i)*360/32, r))
	}
	return orb.Polygon{append(ring, ring[0])}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
