package gis

import (
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/citybrain-ioc/citybrain/gis/crs"
	"github.com/paulmach/orb"
)

var square = [][][]float64{{{120, 32.5}, {120.1, 32.5}, {120.1, 32.6}, {120, 32.6}, {120, 32.5}}}

func district() []byte {
	return fc(feat(map[string]any{"code": "321204000000", "name": "姜堰区"}, "Polygon", square))
}

func town(props map[string]any, coords any) []byte {
	return fc(feat(props, "Polygon", coords))
}

func TestValidationErrors(t *testing.T) {
	good := map[string]any{"code": "321204001000", "name": "罗塘街道", "parent": "321204000000"}
	inner := [][][]float64{{{120.01, 32.51}, {120.05, 32.51}, {120.05, 32.55}, {120.01, 32.55}, {120.01, 32.51}}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name   string
		file   string
		data   []byte
		kind   error
		detail string // a substring of the message
	}{
		{"self-intersection (bow-tie)", "towns.geojson", town(good, [][][]float64{{{120.01, 32.51}, {120.05, 32.55}, {120.06, 32.51}, {120.01, 32.56}, {120.01, 32.51}}}),
			ErrSelfIntersection, "cross near [120.035 32.535]"},
		{"zero area", "towns.geojson", town(good, [][][]float64{{{120.01, 32.51}, {120.02, 32.52}, {120.03, 32.53}, {120.02, 32.52}, {120.01, 32.51}}}),
			ErrSelfIntersection, ""},
		{"hole crossing its shell", "towns.geojson", town(good, [][][]float64{inner[0], {{120.02, 32.52}, {120.06, 32.52}, {120.06, 32.53}, {120.02, 32.53}, {120.02, 32.52}}}),
			ErrSelfIntersection, "ring 1"},
		{"spike", "towns.geojson", town(good, [][][]float64{{{120.01, 32.51}, {120.05, 32.51}, {120.07, 32.51}, {120.05, 32.51}, {120.05, 32.55}, {120.01, 32.51}}}),
			ErrSelfIntersection, ""},
		{"unclosed ring", "towns.geojson", town(good, [][][]float64{{{120.01, 32.51}, {120.05, 32.51}, {120.05, 32.55}, {120.01, 32.55}}}),
			ErrUnclosedRing, "ring 0 starts at [120.01 32.51] and ends at [120.01 32.55]"},
		{"too few points", "towns.geojson", town(good, [][][]float64{{{120.01, 32.51}, {120.05, 32.51}, {120.01, 32.51}}}),
			ErrTooFewPoints, "ring 0 has 3 positions"},
		{"NaN", "towns.geojson", []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"1","name":"x","parent":"321204000000"},"geometry":{"type":"Polygon","coordinates":[[[120.01,32.51],["NaN",32.51],[120.05,32.55],[120.01,32.51]]]}}]}`),
			ErrNotFinite, "NaN"},
		{"infinite", "towns.geojson", []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"1","name":"x","parent":"321204000000"},"geometry":{"type":"Polygon","coordinates":[[[120.01,32.51],[1e400,32.51],[120.05,32.55],[120.01,32.51]]]}}]}`),
			ErrNotFinite, "+Inf"},
		{"projected metres", "towns.geojson", town(good, [][][]float64{{{13358338, 3826587}, {13368338, 3826587}, {13368338, 3836587}, {13358338, 3826587}}}),
			ErrOutOfRange, "projected metres"},
		{"lat, lon order", "towns.geojson", town(good, [][][]float64{{{32.51, 120.01}, {32.51, 120.05}, {32.55, 120.05}, {32.51, 120.01}}}),
			ErrOutOfRange, "[lat, lon]"},
		{"missing code", "towns.geojson", town(with("code", nil), inner), ErrMissingCode, ""},
		{"missing name", "towns.geojson", town(with("name", ""), inner), ErrMissingName, ""},
		{"unknown parent", "towns.geojson", town(with("parent", "999"), inner), ErrUnknownParent, `"999"`},
		{"child outside its parent", "towns.geojson", town(good, [][][]float64{{{120.05, 32.55}, {120.2, 32.55}, {120.2, 32.7}, {120.05, 32.7}, {120.05, 32.55}}}),
			ErrNotInParent, "vertex [120.2 32.55] is outside district 姜堰区"},
		{"wrong geometry type", "towns.geojson", fc(feat(good, "LineString", [][]float64{{120.01, 32.51}, {120.02, 32.52}})), ErrGeometryType, "LineString"},
		{"not GeoJSON", "towns.geojson", []byte(`[1,2,3]`), ErrBadJSON, ""},
		{"duplicate code", "towns.geojson", fc(feat(good, "Polygon", inner), feat(good, "Polygon", inner)), ErrDuplicateCode, ""},
		{"resource without kind", "resources.geojson", fc(feat(map[string]any{"id": "r1", "name": "x"}, "Point", []float64{120.02, 32.52})), ErrMissingKind, ""},
		{"resource out of range", "resources.geojson", fc(feat(map[string]any{"id": "r1", "name": "x", "kind": "camera"}, "Point", []float64{200, 32.52})), ErrOutOfRange, ""},
		{"layer in another crs", "towns.geojson", []byte(`{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::3857"}},"features":[]}`), ErrOutOfRange, "EPSG::3857"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(fstest.MapFS{"district.geojson": {Data: district()}, tc.file: {Data: tc.data}})
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Load: %v; want %v", err, tc.kind)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *ValidationError", err)
			}
			p := ve.Problems[0]
			if p.Layer != tc.file || (p.Feature != 0 && p.Feature != -1 && !errors.Is(tc.kind, ErrDuplicateCode)) || !strings.Contains(p.Error(), tc.detail) {
				t.Fatalf("problem = %q (layer %s, feature %d); want %s feature 0 mentioning %q", p.Error(), p.Layer, p.Feature, tc.file, tc.detail)
			}
		})
	}
}

// TestValidationListsEveryProblem checks that problems in several features
// and layers are all reported, with their feature indexes.
func TestValidationListsEveryProblem(t *testing.T) {
	towns := fc(
		feat(map[string]any{"code": "A", "name": "a"}, "Polygon", [][][]float64{{{120.01, 32.51}, {120.05, 32.51}, {120.05, 32.55}, {120.01, 32.55}, {120.01, 32.51}}}),
		feat(map[string]any{"code": "B"}, "Polygon", [][][]float64{{{120.01, 32.51}, {120.05, 32.55}, {120.05, 32.51}, {120.01, 32.55}, {120.01, 32.51}}}),
		feat(map[string]any{"code": "C", "name": "c"}, "Polygon", [][][]float64{{{120.01, 32.51}, {120.05, 32.51}, {120.05, 32.55}}}),
	)
	_, err := Load(fstest.MapFS{"district.geojson": {Data: district()}, "towns.geojson": {Data: towns}})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load: %v", err)
	}
	got := map[int][]error{}
	for _, p := range ve.Problems {
		got[p.Feature] = append(got[p.Feature], p.Kind)
	}
	if len(got[0]) != 0 || len(got[1]) != 2 || len(got[2]) != 1 {
		t.Fatalf("problems by feature = %v\n%v", got, err)
	}
	t.Log(err)
}

func TestMissingDistrict(t *testing.T) {
	_, err := Load(fstest.MapFS{})
	if !errors.Is(err, ErrMissingLayer) {
		t.Fatalf("Load(empty) = %v", err)
	}
}

// TestXiamenDataV loads a real DataV file (GCJ-02, MultiPolygon, islands)
// as the district layer of a city whose manifest says gcj02, and locates
// each district's own label point in it.
func TestXiamenDataV(t *testing.T) {
	const path = "/work/shared/testdata/geo_xiamen_350200_districts.json"
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			t.Skipf("%s not present", path)
		}
		t.Fatal(err)
	}
	c, err := Load(fstest.MapFS{
		"city.json":        {Data: []byte(`{"name":"厦门市","code":"350200","crs":"gcj02"}`)},
		"district.geojson": {Data: b},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Units(LevelDistrict)); n != 6 {
		t.Fatalf("%d districts, want 6", n)
	}
	tests := []struct {
		name string
		gcj  orb.Point // a point inside, in GCJ-02 (DataV's "centroid")
		code string
	}{
		{"思明区", orb.Point{118.133341, 24.462692}, "350203"},
		{"海沧区", orb.Point{117.989999, 24.515788}, "350205"},
		{"湖里区", orb.Point{118.139192, 24.519552}, "350206"},
		{"集美区", orb.Point{118.027724, 24.628417}, "350211"},
		{"同安区", orb.Point{118.109393, 24.769817}, "350212"},
		{"翔安区", orb.Point{118.270949, 24.644028}, "350213"},
	}
	for _, tc := range tests {
		pl, err := c.Locate(crs.ToWGS84(tc.gcj, crs.GCJ02))
		if err != nil || pl.District.Code != tc.code || pl.District.Name != tc.name {
			t.Errorf("Locate(%s centroid) = %+v, %v", tc.name, pl, err)
		}
	}
	// The same file read as WGS-84 would put those points about 500 m off:
	// the conversion must have happened.
	info, _ := c.Unit("350203")
	if g := crs.ToWGS84(orb.Point{118.133341, 24.462692}, crs.GCJ02); !info.Bound.Contains(g) {
		t.Errorf("bound %v does not contain %v", info.Bound, g)
	}
	if _, err := c.Locate(orb.Point{118.5, 24.0}); !errors.Is(err, ErrOutside) {
		t.Errorf("a point in the strait: %v, want ErrOutside", err)
	}
}
