package gis_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing/fstest"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/gis/crs"
	"github.com/paulmach/orb"
)

// exampleCity is a tiny city: a 0.1° square district split into a west and
// an east town, each split into a north and a south grid cell, with three
// resources.
func exampleCity() fstest.MapFS {
	sq := func(x0, y0, x1, y1 float64) string {
		return fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}`, x0, y0, x1, y0, x1, y1, x0, y1, x0, y0)
	}
	f := func(props, geom string) string {
		return `{"type":"Feature","properties":` + props + `,"geometry":` + geom + `}`
	}
	fcol := func(fs ...string) []byte {
		s := `{"type":"FeatureCollection","features":[`
		for i, x := range fs {
			if i > 0 {
				s += ","
			}
			s += x
		}
		return []byte(s + "]}")
	}
	return fstest.MapFS{
		"city.json":        {Data: []byte(`{"name":"示例区","code":"320000","year":2023}`)},
		"district.geojson": {Data: fcol(f(`{"code":"320000000000","name":"示例区"}`, sq(120, 32.5, 120.1, 32.6)))},
		"towns.geojson": {Data: fcol(
			f(`{"code":"320000001000","name":"西街道","parent":"320000000000","schematic":true}`, sq(120, 32.5, 120.05, 32.6)),
			f(`{"code":"320000101000","name":"东镇","parent":"320000000000","schematic":true}`, sq(120.05, 32.5, 120.1, 32.6)))},
		"grids.geojson": {Data: fcol(
			f(`{"code":"320000001000001","name":"西街道第1网格","parent":"320000001000"}`, sq(120, 32.55, 120.05, 32.6)),
			f(`{"code":"320000001000002","name":"西街道第2网格","parent":"320000001000"}`, sq(120, 32.5, 120.05, 32.55)),
			f(`{"code":"320000101000001","name":"东镇第1网格","parent":"320000101000"}`, sq(120.05, 32.55, 120.1, 32.6)),
			f(`{"code":"320000101000002","name":"东镇第2网格","parent":"320000101000"}`, sq(120.05, 32.5, 120.1, 32.55)))},
		"resources.geojson": {Data: fcol(
			f(`{"id":"fire-1","kind":"fire_station","name":"示例区消防救援大队"}`, `{"type":"Point","coordinates":[120.02,32.52]}`),
			f(`{"id":"fire-2","kind":"fire_station","name":"东镇专职消防队"}`, `{"type":"Point","coordinates":[120.08,32.58]}`),
			f(`{"id":"hosp-1","kind":"hospital","name":"东镇卫生院"}`, `{"type":"Point","coordinates":[120.07,32.53]}`))},
	}
}

func ExampleLoad() {
	c, err := gis.Load(exampleCity())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Meta().Name, c.LayerNames())
	fmt.Println(len(c.Units(gis.LevelTown)), "towns,", len(c.Units(gis.LevelGrid)), "grid cells")
	// Output:
	// 示例区 [district towns grids resources]
	// 2 towns, 4 grid cells
}

func ExampleLoad_validation() {
	fsys := exampleCity()
	// The towns layer loses 东镇 and gets a ring that is not closed.
	fsys["towns.geojson"] = &fstest.MapFile{Data: []byte(`{"type":"FeatureCollection","features":[
		{"type":"Feature","properties":{"code":"320000001000","name":"西街道"},
		 "geometry":{"type":"Polygon","coordinates":[[[120,32.5],[120.05,32.6],[120.05,32.5],[120,32.6]]]}}]}`)}
	_, err := gis.Load(fsys)
	var ve *gis.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p)
		}
	}
	fmt.Println(errors.Is(err, gis.ErrUnclosedRing))
	// Output:
	// towns.geojson feature 0 (320000001000): unclosed ring: ring 0 starts at [120 32.5] and ends at [120 32.6]
	// grids.geojson feature 2 (320000101000001): parent not found: no coarser unit has code "320000101000"
	// grids.geojson feature 3 (320000101000002): parent not found: no coarser unit has code "320000101000"
	// true
}

func ExampleCity_Locate() {
	c, _ := gis.Load(exampleCity())
	// A GPS fix, and the same place as a 高德 (GCJ-02) map reports it.
	for _, p := range []orb.Point{{120.07, 32.52}, crs.FromWGS84(orb.Point{120.03, 32.57}, crs.GCJ02)} {
		pl, err := c.Locate(crs.ToWGS84(p, crs.GCJ02))
		fmt.Println(pl.Town.Name, pl.Grid.Code, pl.Grid.Name, err)
	}
	// On the boundary between the two towns: the east one, always.
	pl, _ := c.Locate(orb.Point{120.05, 32.52})
	fmt.Println(pl.Town.Name)
	_, err := c.Locate(orb.Point{121, 31})
	fmt.Println(err)
	// Output:
	// 东镇 320000101000002 东镇第2网格 <nil>
	// 西街道 320000001000001 西街道第1网格 <nil>
	// 东镇
	// gis: point outside the service area
}

func ExampleCity_Nearest() {
	c, _ := gis.Load(exampleCity())
	for _, n := range c.Nearest(orb.Point{120.03, 32.53}, "fire_station", 2) {
		fmt.Printf("%s %s %.0f m\n", n.ID, n.Name, n.DistanceM)
	}
	// Output:
	// fire-1 示例区消防救援大队 1456 m
	// fire-2 东镇专职消防队 7279 m
}

func ExampleCity_WithinCircle() {
	c, _ := gis.Load(exampleCity())
	// A CAP <circle>: "32.52,120.07 2" (lat,lon radius in km).
	grids, res := c.WithinCircle(orb.Point{120.07, 32.52}, 2000)
	for _, g := range grids {
		fmt.Println(g.Name)
	}
	for _, r := range res {
		fmt.Printf("%s %.0f m\n", r.Name, r.DistanceM)
	}
	// Output:
	// 西街道第2网格
	// 东镇第2网格
	// 东镇卫生院 1113 m
}

func ExampleCity_Within() {
	c, _ := gis.Load(exampleCity())
	// A CAP <polygon> over the north-east.
	area := orb.Polygon{{{120.06, 32.56}, {120.095, 32.56}, {120.095, 32.595}, {120.06, 32.56}}}
	grids, res := c.Within(area)
	for _, g := range grids {
		fmt.Println(g.Code, g.Name)
	}
	for _, r := range res {
		fmt.Println(r.ID, r.Name)
	}
	// Output:
	// 320000101000001 东镇第1网格
	// fire-2 东镇专职消防队
}

func ExampleCity_Layer() {
	c, _ := gis.Load(exampleCity())
	b, _ := c.Layer("towns")
	var fc struct {
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	_ = json.Unmarshal(b, &fc)
	for _, f := range fc.Features {
		p := f.Properties
		fmt.Println(p["code"], p["name"], p["level"], p["parent"], p["schematic"])
	}
	// Output:
	// 320000001000 西街道 town 320000000000 true
	// 320000101000 东镇 town 320000000000 true
}

func ExampleCity_RandomPointIn() {
	c, _ := gis.Load(exampleCity())
	r := rand.New(rand.NewPCG(1, 2))
	p, _ := c.RandomPointIn("320000101000001", r)
	pl, _ := c.Locate(p)
	fmt.Println(pl.Grid.Name)
	// Output:
	// 东镇第1网格
}

func ExampleCity_Geocode() {
	c, _ := gis.Load(exampleCity())
	for _, text := range []string{"东镇卫生院", "示例区西街道文化站旁", "东镇"} {
		r, err := c.Geocode(text)
		fmt.Println(r.MatchedBy, r.Unit.Name, r.Place.Grid.Name, r.Confidence, err)
	}
	_, err := c.Geocode("北京市朝阳区")
	fmt.Println(err)
	// Output:
	// poi 东镇 东镇第2网格 0.93 <nil>
	// town 西街道 西街道第1网格 0.5 <nil>
	// town 东镇 东镇第1网格 0.5 <nil>
	// gis: address matches no known place
}
