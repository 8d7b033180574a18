package sample

import (
	"errors"
	"testing"

	"github.com/citybrain-ioc/citybrain/gis"
)

func TestGeocode(t *testing.T) {
	c := load(t)
	tests := []struct {
		text    string
		unit    string // code of the matched unit
		by      string
		minConf float64
		maxConf float64
	}{
		{"江苏省泰州市姜堰区罗塘街道桃园居委会", "321204001001", "village", 0.8, 0.9},
		{"罗塘街道桃园社区3栋", "321204001001", "village", 0.8, 0.9},
		{"蒋垛镇邱刘村村部东侧", "321204102200", "village", 0.8, 0.9},
		{"俞垛 叶甸村", "321204115208", "village", 0.8, 0.9},
		{"叶甸村委会", "321204115208", "village", 0.7, 0.8},
		{"姜堰区三水街道姜陈社区", "321204002002", "village", 0.8, 0.9},
		{"溱潼镇卫生院门口", "", "poi", 0.9, 1},
		{"姜堰区人民医院急诊", "", "poi", 0.9, 1},
		{"东方大道与罗塘路交叉口", "", "road", 0.75, 0.85},
		{"人民路", "", "road", 0.55, 0.65},
		{"张甸镇", "321204105000", "town", 0.45, 0.55},
		{"张甸", "321204105000", "town", 0.45, 0.55},
		{"姜堰区", "321204000000", "district", 0.15, 0.25},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			r, err := c.Geocode(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if (tc.unit != "" && r.Unit.Code != tc.unit) || r.MatchedBy != tc.by || r.Confidence < tc.minConf || r.Confidence > tc.maxConf {
				t.Fatalf("Geocode(%q) = unit %s %s by %s conf %.2f (matched %v); want %s by %s conf %.2f–%.2f",
					tc.text, r.Unit.Code, r.Unit.Name, r.MatchedBy, r.Confidence, r.Matched, tc.unit, tc.by, tc.minConf, tc.maxConf)
			}
			// The point is inside the matched unit.
			pl, err := c.Locate(r.Point)
			if err != nil || pl != r.Place {
				t.Fatalf("point %v locates to %+v, %v; result has %+v", r.Point, pl, err, r.Place)
			}
			if tc.unit != "" && pl.Village.Code != tc.unit && pl.Town.Code != tc.unit && pl.District.Code != tc.unit {
				t.Fatalf("point %v is in %+v, not in %s", r.Point, pl, tc.unit)
			}
		})
	}
	if _, err := c.Geocode("北京市朝阳区建国路"); !errors.Is(err, gis.ErrNoMatch) {
		t.Errorf("an address elsewhere: %v, want ErrNoMatch", err)
	}
}

func BenchmarkGeocode(b *testing.B) {
	c := load(b)
	for b.Loop() {
		_, _ = c.Geocode("江苏省泰州市姜堰区三水街道姜陈社区人民路18号")
	}
}
