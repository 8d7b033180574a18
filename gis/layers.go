package gis

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/paulmach/orb"
)

// encodeLayers renders every layer once, at load, so that serving one is a
// byte copy. Coordinates are written with 7 decimals (about 1 cm).
func (c *City) encodeLayers() {
	for rank, lv := range levels {
		ld := &c.levels[rank]
		if len(ld.units) == 0 {
			continue
		}
		var b bytes.Buffer
		c.header(&b, layerOfLevel[lv])
		for i, ui := range ld.units {
			u := &c.units[ui]
			if i > 0 {
				b.WriteByte(',')
			}
			writeUnitFeature(&b, u, u.geom)
		}
		b.WriteString("]}")
		c.addLayer(layerOfLevel[lv], b.Bytes())
	}
	if len(c.roads) > 0 {
		var b bytes.Buffer
		c.header(&b, "roads")
		for i, r := range c.roads {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"type":"Feature","id":`)
			writeJSON(&b, r.ID)
			b.WriteString(`,"properties":`)
			writeProps(&b, r.props, [][2]any{{"id", r.ID}, {"name", r.Name}, {"kind", r.Kind}, {"level", "road"}, {"schematic", r.Schematic}})
			b.WriteString(`,"geometry":`)
			if len(r.Lines) == 1 {
				writeGeometry(&b, r.Lines[0])
			} else {
				writeGeometry(&b, r.Lines)
			}
			b.WriteByte('}')
		}
		b.WriteString("]}")
		c.addLayer("roads", b.Bytes())
	}
	if len(c.resources) > 0 {
		var b bytes.Buffer
		c.header(&b, "resources")
		for i, r := range c.resources {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"type":"Feature","id":`)
			writeJSON(&b, r.ID)
			b.WriteString(`,"properties":`)
			writeProps(&b, r.props, [][2]any{{"id", r.ID}, {"kind", r.Kind}, {"name", r.Name}, {"level", "resource"}, {"schematic", r.Schematic}, {"grid", r.Grid}})
			b.WriteString(`,"geometry":`)
			writeGeometry(&b, r.Point)
			b.WriteByte('}')
		}
		b.WriteString("]}")
		c.addLayer("resources", b.Bytes())
	}
}

func (c *City) addLayer(name string, b []byte) {
	c.layers[name] = slices.Clip(b)
	c.names = append(c.names, name)
}

func (c *City) header(b *bytes.Buffer, name string) {
	b.WriteString(`{"type":"FeatureCollection","name":`)
	writeJSON(b, name)
	b.WriteString(`,"metadata":`)
	writeJSON(b, map[string]any{"city": c.meta.Name, "code": c.meta.Code, "year": c.meta.Year, "crs": "wgs84", "sources": c.meta.Sources})
	b.WriteString(`,"features":[`)
}

func writeJSON(b *bytes.Buffer, v any) {
	j, _ := json.Marshal(v)
	b.Write(j)
}

// writeProps writes the standard properties first, in order, then any
// other property of the source feature, sorted by key.
func writeProps(b *bytes.Buffer, src map[string]json.RawMessage, std [][2]any) {
	b.WriteByte('{')
	seen := map[string]bool{"adcode": true, "parent_code": true}
	n := 0
	for _, kv := range std {
		k := kv[0].(string)
		seen[k] = true
		if s, ok := kv[1].(string); ok && s == "" {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		writeJSON(b, k)
		b.WriteByte(':')
		writeJSON(b, kv[1])
	}
	keys := make([]string, 0, len(src))
	for k := range src {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		writeJSON(b, k)
		b.WriteByte(':')
		var compact bytes.Buffer
		if json.Compact(&compact, src[k]) == nil {
			b.Write(compact.Bytes())
		} else {
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
}

func writeGeometry(b *bytes.Buffer, g orb.Geometry) {
	b.WriteString(`{"type":"`)
	b.WriteString(g.GeoJSONType())
	b.WriteString(`","coordinates":`)
	switch g := g.(type) {
	case orb.Point:
		writePoint(b, g)
	case orb.LineString:
		writePoints(b, g)
	case orb.MultiLineString:
		b.WriteByte('[')
		for i, ls := range g {
			if i > 0 {
				b.WriteByte(',')
			}
			writePoints(b, ls)
		}
		b.WriteByte(']')
	case orb.Polygon:
		writePolygon(b, g)
	case orb.MultiPolygon:
		b.WriteByte('[')
		for i, p := range g {
			if i > 0 {
				b.WriteByte(',')
			}
			writePolygon(b, p)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
}

func writePolygon(b *bytes.Buffer, p orb.Polygon) {
	b.WriteByte('[')
	for i, r := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		writePoints(b, r)
	}
	b.WriteByte(']')
}

func writePoints[T ~[]orb.Point](b *bytes.Buffer, ps T) {
	b.WriteByte('[')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		writePoint(b, p)
	}
	b.WriteByte(']')
}

func writePoint(b *bytes.Buffer, p orb.Point) {
	var tmp [32]byte
	b.WriteByte('[')
	b.Write(strconv.AppendFloat(tmp[:0], round7(p[0]), 'f', -1, 64))
	b.WriteByte(',')
	b.Write(strconv.AppendFloat(tmp[:0], round7(p[1]), 'f', -1, 64))
	b.WriteByte(']')
}

// compact writes a one-part MultiPolygon as the Polygon it is.
func compact(mp orb.MultiPolygon) orb.Geometry {
	if len(mp) == 1 {
		return mp[0]
	}
	return mp
}

// writeUnitFeature writes one administrative unit as a GeoJSON Feature with
// the standard properties and the given geometry (full or simplified).
func writeUnitFeature(b *bytes.Buffer, u *unit, g orb.MultiPolygon) {
	b.WriteString(`{"type":"Feature","id":`)
	writeJSON(b, u.Code)
	b.WriteString(`,"properties":`)
	writeProps(b, u.props, [][2]any{
		{"code", u.Code}, {"name", u.Name}, {"level", string(u.level)},
		{"parent", u.parentCode}, {"schematic", u.Schematic},
		{"label", [2]float64{round7(u.centre[0]), round7(u.centre[1])}},
		{"area_km2", math.Round(u.areaM2/1e4) / 100},
	})
	b.WriteString(`,"geometry":`)
	writeGeometry(b, compact(g))
	b.WriteByte('}')
}
