package crs

import (
	"fmt"
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// Published test vectors of eviltransform (BSD-2), [lat, lng] there,
// [lon, lat] here.
var gcjVectors = []struct {
	name     string
	wgs, gcj orb.Point
}{
	{"shanghai", orb.Point{121.5272106, 31.1774276}, orb.Point{121.531541859215, 31.17530398364597}},
	{"shenzhen", orb.Point{113.912316, 22.543847}, orb.Point{113.9171764808363, 22.540796131694766}},
	{"beijing", orb.Point{116.377817, 39.911954}, orb.Point{116.38404722455657, 39.91334545536069}},
}

// Published vectors of wandergis/coordtransform (MIT), the reference most
// Chinese web maps use for BD-09. (eviltransform's bd2wgs vectors are not
// used: they disagree with the public formula by 10–40 m, so they were not
// produced by it.)
var bdVectors = []struct {
	name    string
	gcj, bd orb.Point
}{
	{"beijing-forward", orb.Point{116.404, 39.915}, orb.Point{116.41036949371029, 39.92133699351021}},
}

var bdInverseVectors = []struct {
	name    string
	bd, gcj orb.Point
}{
	{"beijing-inverse", orb.Point{116.404, 39.915}, orb.Point{116.39762729119315, 39.90865673957631}},
}

func TestWGS84ToGCJ02Vectors(t *testing.T) {
	for _, tc := range gcjVectors {
		t.Run(tc.name, func(t *testing.T) {
			got := FromWGS84(tc.wgs, GCJ02)
			if math.Abs(got[0]-tc.gcj[0]) > 1e-9 || math.Abs(got[1]-tc.gcj[1]) > 1e-9 {
				t.Errorf("FromWGS84(%v) = %v, want %v", tc.wgs, got, tc.gcj)
			}
			// The iterative inverse recovers the published WGS-84 point.
			back := ToWGS84(tc.gcj, GCJ02)
			if d := geo.Distance(back, tc.wgs); d > 0.01 {
				t.Errorf("ToWGS84(%v) = %v, %.4f m from %v", tc.gcj, back, d, tc.wgs)
			}
		})
	}
}

func TestBD09Vectors(t *testing.T) {
	for _, tc := range bdVectors {
		t.Run(tc.name, func(t *testing.T) {
			got := GCJ02ToBD09(tc.gcj)
			if math.Abs(got[0]-tc.bd[0]) > 1e-9 || math.Abs(got[1]-tc.bd[1]) > 1e-9 {
				t.Errorf("GCJ02ToBD09(%v) = %v, want %v", tc.gcj, got, tc.bd)
			}
			if got := Convert(tc.gcj, GCJ02, BD09); geo.Distance(got, tc.bd) > 1e-3 {
				t.Errorf("Convert(%v, GCJ02, BD09) = %v, want %v", tc.gcj, got, tc.bd)
			}
		})
	}
	for _, tc := range bdInverseVectors {
		t.Run(tc.name, func(t *testing.T) {
			// The published inverse is the closed-form approximation; ours
			// is iterated to the exact inverse, so they agree to decimetres.
			got := BD09ToGCJ02(tc.bd)
			if d := geo.Distance(got, tc.gcj); d > 0.5 {
				t.Errorf("BD09ToGCJ02(%v) = %v, %.3f m from %v", tc.bd, got, d, tc.gcj)
			}
			if d := geo.Distance(GCJ02ToBD09(got), tc.bd); d > 1e-3 {
				t.Errorf("BD09ToGCJ02 is not the inverse: residual %.4f m", d)
			}
		})
	}
	// wgs84_to_gcj02 vector from the same project.
	if got := WGS84ToGCJ02(orb.Point{116.404, 39.915}); math.Abs(got[0]-116.41024449916938) > 1e-9 || math.Abs(got[1]-39.91640428150164) > 1e-9 {
		t.Errorf("WGS84ToGCJ02(116.404, 39.915) = %v", got)
	}
}

func TestOutsideChinaIsIdentity(t *testing.T) {
	for _, p := range []orb.Point{{-104.9903, 39.7392}, {153.0251, -27.4698}, {-43.1729, -22.9068}, {139.767125, 35.681236}, {2.35, 48.85}} {
		if got := FromWGS84(p, GCJ02); got != p {
			t.Errorf("FromWGS84(%v, GCJ02) = %v, want identity", p, got)
		}
		if got := ToWGS84(p, GCJ02); got != p {
			t.Errorf("ToWGS84(%v, GCJ02) = %v, want identity", p, got)
		}
	}
}

// TestRoundTripGrid checks the iterative inverses over a grid of points
// across China: the round trip must come back within 0.5 m (in practice
// it is within a millimetre).
func TestRoundTripGrid(t *testing.T) {
	var worstGCJ, worstBD float64
	for lon := 73.5; lon <= 135.0; lon += 0.75 {
		for lat := 18.0; lat <= 53.5; lat += 0.5 {
			w := orb.Point{lon, lat}
			if d := geo.Distance(ToWGS84(FromWGS84(w, GCJ02), GCJ02), w); d > worstGCJ {
				worstGCJ = d
			}
			if d := geo.Distance(ToWGS84(FromWGS84(w, BD09), BD09), w); d > worstBD {
				worstBD = d
			}
		}
	}
	t.Logf("worst round trip error: gcj02 %.2e m, bd09 %.2e m", worstGCJ, worstBD)
	if worstGCJ > 0.5 || worstBD > 0.5 {
		t.Fatalf("round trip error too large: gcj02 %.3f m, bd09 %.3f m", worstGCJ, worstBD)
	}
}

// TestOffsetNearJiangyan checks the magnitudes DOMAIN.md quotes for 姜堰.
func TestOffsetNearJiangyan(t *testing.T) {
	w := orb.Point{120.148, 32.509}
	g := FromWGS84(w, GCJ02)
	b := FromWGS84(w, BD09)
	if d := geo.Distance(w, g); d < 400 || d > 650 {
		t.Errorf("WGS-84 → GCJ-02 offset %.0f m, want about 510 m", d)
	}
	if d := geo.Distance(g, b); d < 800 || d > 1100 {
		t.Errorf("GCJ-02 → BD-09 offset %.0f m, want about 920 m", d)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    System
		wantErr bool
	}{
		{"", WGS84, false},
		{"wgs84", WGS84, false},
		{"WGS-84", WGS84, false},
		{"EPSG:4326", WGS84, false},
		{"gcj02", GCJ02, false},
		{"GCJ-02", GCJ02, false},
		{"bd09", BD09, false},
		{"BD-09", BD09, false},
		{"Bd09ll", BD09, false},
		{"utm", "", true},
		{"gcj03", "", true},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("Parse(%q) = %q, %v; want %q, err=%v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func BenchmarkGCJ02ToWGS84(b *testing.B) {
	p := orb.Point{120.154, 32.507}
	for b.Loop() {
		p2 := GCJ02ToWGS84(p)
		_ = p2
	}
}

func ExampleToWGS84() {
	// A point a 高德 (GCJ-02) map shows in 姜堰, converted for the platform.
	w := ToWGS84(orb.Point{120.154, 32.507}, GCJ02)
	fmt.Printf("%.6f %.6f\n", w[0], w[1])
	back := FromWGS84(w, GCJ02)
	fmt.Printf("%.6f %.6f\n", back[0], back[1])
	// Output:
	// 120.149092 32.508898
	// 120.154000 32.507000
}

func ExampleParse() {
	for _, s := range []string{"", "GCJ-02", "bd09", "utm"} {
		sys, err := Parse(s)
		fmt.Printf("%q → %q %v\n", s, sys, err)
	}
	// Output:
	// "" → "wgs84" <nil>
	// "GCJ-02" → "gcj02" <nil>
	// "bd09" → "bd09" <nil>
	// "utm" → "" crs: unknown coordinate system "utm" (want wgs84, gcj02 or bd09)
}

func ExampleConvert() {
	// A 百度 (BD-09) point to 高德 (GCJ-02), as their maps show the same place.
	g := Convert(orb.Point{120.1605, 32.5129}, BD09, GCJ02)
	fmt.Printf("%.5f %.5f\n", g[0], g[1])
	// Output:
	// 120.15399 32.50698
}
