package intake

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
)

func readTestdata(t testing.TB, name string) []byte {
	b, err := os.ReadFile(testenv.Testdata(t, name))
	if err != nil {
		t.Fatalf("shared test data: %v", err)
	}
	return b
}

func TestParseCAPPublishedAndOperationalAlerts(t *testing.T) {
	for _, tc := range []struct {
		file                     string
		msgType                  string
		infos, polygons, circles int
		refs                     int
	}{
		{"cap_oasis_example_homeland_security.xml", "Alert", 1, 0, 0, 0},
		{"cap_oasis_example_severe_thunderstorm.xml", "Alert", 1, 1, 0, 0},
		{"cap_oasis_example_earthquake.xml", "Update", 1, 0, 1, 1},
		{"cap_oasis_example_amber_alert.xml", "Alert", 2, 0, 0, 0},
		{"cap_tw_cwa_thunderstorm_polygon_zh.xml", "Alert", 1, 1, 0, 0},
		{"cap_tw_cwa_earthquake_circle_bom_zh.xml", "Alert", 1, 0, 1, 0},
		{"cap_tw_cwa_rain_1_alert_zh.xml", "Alert", 1, 0, 0, 0},
		{"cap_tw_cwa_rain_2_update_zh.xml", "Update", 2, 0, 0, 1},
		{"cap_tw_cwa_rain_3_update_zh.xml", "Update", 1, 0, 0, 1},
		{"cap_tw_cwa_rain_4_cancel_zh.xml", "Cancel", 1, 0, 0, 1},
		{"cap_no_metno_gale_polygon_meteoalarm.xml", "Alert", 2, 1, 0, 0},
		{"cap_us_ipaws_local_area_emergency_polygon.xml", "Alert", 1, 1, 0, 0},
		{"cap_us_ipaws_cancel_signed_no_info.xml", "Cancel", 0, 0, 0, 1},
		{"cap_us_wcatwc_tsunami_update_references.xml", "Update", 1, 0, 0, 1},
		{"cap_au_nsw_rfs_fire_prefixed_circle.xml", "Alert", 2, 0, 1, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			a, err := ParseCAP(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if a.MsgType != tc.msgType || len(a.Infos) != tc.infos || len(a.References) != tc.refs {
				t.Fatalf("msgType %s infos %d refs %d", a.MsgType, len(a.Infos), len(a.References))
			}
			polys, circles := 0, 0
			if info, ok := a.Main(); ok {
				for _, ar := range info.Areas {
					polys += len(ar.Polygons)
					circles += len(ar.Circles)
					for _, p := range ar.Polygons {
						for _, pt := range p[0] {
							if pt[0] < -180 || pt[0] > 180 || pt[1] < -90 || pt[1] > 90 {
								t.Fatalf("point %v out of range", pt)
							}
						}
					}
				}
			}
			if polys != tc.polygons || circles != tc.circles {
				t.Fatalf("polygons %d circles %d", polys, circles)
			}
		})
	}
	// Chinese: the zh block is the main one; lat,lon order becomes [lon, lat].
	a, _ := ParseCAP(readTestdata(t, "cap_tw_cwa_thunderstorm_polygon_zh.xml"))
	info, _ := a.Main()
	if info.Event != "雷雨" || info.Areas[0].Polygons[0][0][0][0] < 119 {
		t.Fatalf("zh info %q, first point %v", info.Event, info.Areas[0].Polygons[0][0][0])
	}
	// An AMBER alert in two languages: the first is used when none is Chinese.
	a, _ = ParseCAP(readTestdata(t, "cap_oasis_example_amber_alert.xml"))
	if info, _ := a.Main(); info.Language != "en-US" {
		t.Fatalf("main info language %s", info.Language)
	}
	r := CAPReport(a, time.Now())
	if r.ID == "" || r.SourceRef != "KAR0-0306112239-SW" || r.Category == "" || r.Severity < 1 {
		t.Fatalf("report %+v", r)
	}
}

func TestParseCAPRefusesBadDocumentsWithAReason(t *testing.T) {
	for file, want := range map[string]string{
		"cap_bad_missing_scope.xml":                   "scope",
		"cap_bad_empty_references.xml":                "references",
		"cap_bad_noaa_cap11_empty_fields.xml":         "older CAP version",
		"cap_bad_xxe_doctype.xml":                     "DOCTYPE",
		"cap_bad_no_namespace_missing_fields.xml":     "not CAP 1.2",
		"cap_bad_cap11_oasis_severe_thunderstorm.xml": "older CAP version",
		"cap_bad_cap10_oasis_severe_thunderstorm.xml": "older CAP version",
		"cap_bad_nws_cap11_empty_polygon.xml":         "older CAP version",
		"cap_bad_cwa_404_html_big5.xml":               "UTF-8",
	} {
		_, err := ParseCAP(readTestdata(t, file))
		var es Errors
		if !errors.As(err, &es) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error about %q", file, err, want)
		}
	}
}

func TestParseCAPGeometry(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"32.5,120.1 32.6,120.1 32.6,120.2 32.5,120.1", ""},
		{"32.5,120.1 32.6,120.1 32.5,120.1", "at least 4"},
		{"32.5,120.1 32.6,120.1 32.6,120.2 32.5,120.2", "not closed"},
		{"None,1.23 1,2 3,4 None,1.23", "lat,lon"},
		{"132.5,120.1 32.6,120.1 32.6,120.2 132.5,120.1", "out of range"},
	} {
		_, err := parsePolygon(tc.in)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
		}
	}
	c, err := parseCircle("32.5,120.1 2.5")
	if err != nil || c.RadiusM != 2500 || c.Centre[0] != 120.1 {
		t.Fatalf("circle %+v %v", c, err)
	}
	if _, err := parseCircle("1.234,5.67 None"); err == nil {
		t.Fatal("bad radius accepted")
	}
	if g := parseGBIdentifier("32120441600000020261122143000001"); g == nil || g.AreaCode != "321204" || g.Time != "20261122143000" {
		t.Fatalf("GB/T 35965.1 identifier: %+v", g)
	}
}

func FuzzParseCAP(f *testing.F) {
	for _, name := range []string{"cap_oasis_example_earthquake.xml", "cap_tw_cwa_rain_2_update_zh.xml", "cap_bad_xxe_doctype.xml", "cap_bad_no_namespace_missing_fields.xml"} {
		f.Add(readTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseCAP(b)
		if err != nil {
			return
		}
		if a.Identifier == "" || a.MsgType == "" {
			t.Fatalf("accepted without identifier or msgType: %+v", a)
		}
		_ = CAPReport(a, time.Now())
	})
}
