package crs

import (
	"fmt"
	"math"
	"strings"

	"github.com/paulmach/orb"
)

// System names a geographic coordinate reference system in use in China.
type System string

// The coordinate systems the platform accepts.
const (
	// WGS84 is GPS coordinates (EPSG:4326); the platform's internal system.
	WGS84 System = "wgs84"
	// GCJ02 is the obfuscated system mandated for Chinese maps (高德, 腾讯,
	// and anything derived from them).
	GCJ02 System = "gcj02"
	// BD09 is Baidu's system, a further offset of GCJ-02 (百度).
	BD09 System = "bd09"
)

var spelling = strings.NewReplacer("-", "", "_", "", " ", "")

// Parse reads a system name case-insensitively. The empty string is WGS84;
// "gcj-02", "bd-09", "wgs-84" and "wgs 84"-style spellings are accepted too,
// as are the common aliases "epsg:4326", "gps", "mars", "amap", "baidu".
func Parse(s string) (System, error) {
	switch s { // the spellings every request uses, without allocating
	case "", "wgs84":
		return WGS84, nil
	case "gcj02":
		return GCJ02, nil
	case "bd09":
		return BD09, nil
	}
	k := spelling.Replace(strings.ToLower(strings.TrimSpace(s)))
	switch k {
	case "", "wgs84", "epsg4326", "epsg:4326", "4326", "gps", "crs84":
		return WGS84, nil
	case "gcj02", "gcj", "mars", "amap", "gaode", "tencent", "qq":
		return GCJ02, nil
	case "bd09", "bd09ll", "baidu", "bd":
		return BD09, nil
	}
	return "", fmt.Errorf("crs: unknown coordinate system %q (want wgs84, gcj02 or bd09)", s)
}

// String returns the canonical lower-case name.
func (s System) String() string { return string(s) }

// ToWGS84 converts p ([lon, lat] in system from) to WGS-84. An unknown
// system is treated as WGS-84. The GCJ-02 and BD-09 inverses are iterative
// and accurate to well under 0.1 m inside China.
func ToWGS84(p orb.Point, from System) orb.Point {
	switch from {
	case GCJ02:
		return GCJ02ToWGS84(p)
	case BD09:
		return GCJ02ToWGS84(BD09ToGCJ02(p))
	}
	return p
}

// FromWGS84 converts a WGS-84 point p ([lon, lat]) to system to. An unknown
// system is treated as WGS-84.
func FromWGS84(p orb.Point, to System) orb.Point {
	switch to {
	case GCJ02:
		return WGS84ToGCJ02(p)
	case BD09:
		return GCJ02ToBD09(WGS84ToGCJ02(p))
	}
	return p
}

// Convert converts p from one system to another.
func Convert(p orb.Point, from, to System) orb.Point {
	if from == to {
		return p
	}
	return FromWGS84(ToWGS84(p, from), to)
}

// OutOfChina reports whether p lies outside the rectangle in which GCJ-02
// applies an offset. Like every public implementation it is a rough
// bounding box, not the border: the transform is the identity outside it.
func OutOfChina(p orb.Point) bool {
	lon, lat := p[0], p[1]
	return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271)
}

// Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
const (
	gcjA  = 6378245.0
	gcjEE = 0.00669342162296594323
)

func gcjOffset(lon, lat float64) (dLon, dLat float64) {
	x, y := lon-105.0, lat-35.0
	xPi, yPi := x*math.Pi, y*math.Pi
	d := 20.0*math.Sin(6.0*xPi) + 20.0*math.Sin(2.0*xPi)
	dLat = d + 20.0*math.Sin(yPi) + 40.0*math.Sin(yPi/3.0) + 160.0*math.Sin(yPi/12.0) + 320*math.Sin(yPi/30.0)
	dLon = d + 20.0*math.Sin(xPi) + 40.0*math.Sin(xPi/3.0) + 150.0*math.Sin(xPi/12.0) + 300.0*math.Sin(xPi/30.0)
	dLat *= 2.0 / 3.0
	dLon *= 2.0 / 3.0
	absX := math.Sqrt(math.Abs(x))
	dLat += -100.0 + 2.0*x + 3.0*y + 0.2*y*y + 0.1*x*y + 0.2*absX
	dLon += 300.0 + x + 2.0*y + 0.1*x*x + 0.1*x*y + 0.1*absX

	radLat := lat / 180.0 * math.Pi
	magic := math.Sin(radLat)
	magic = 1 - gcjEE*magic*magic
	sqrtMagic := math.Sqrt(magic)
	dLat = (dLat * 180.0) / ((gcjA * (1 - gcjEE)) / (magic * sqrtMagic) * math.Pi)
	dLon = (dLon * 180.0) / (gcjA / sqrtMagic * math.Cos(radLat) * math.Pi)
	return dLon, dLat
}

// WGS84ToGCJ02 is the public forward GCJ-02 transform (as in eviltransform).
// Outside China it is the identity.
func WGS84ToGCJ02(p orb.Point) orb.Point {
	if OutOfChina(p) {
		return p
	}
	dLon, dLat := gcjOffset(p[0], p[1])
	return orb.Point{p[0] + dLon, p[1] + dLat}
}

// GCJ02ToWGS84 inverts WGS84ToGCJ02 by fixed-point iteration: w ← w − (f(w) − g).
// The offset field is smooth and varies slowly (its Jacobian is within about
// 1e-4 of the identity), so each step gains about four digits; it stops when
// the residual is below 1e-10° (about 0.01 mm), after at most 10 steps.
func GCJ02ToWGS84(g orb.Point) orb.Point {
	if OutOfChina(g) {
		return g
	}
	w := g
	for range 10 {
		f := WGS84ToGCJ02(w)
		dx, dy := f[0]-g[0], f[1]-g[1]
		w = orb.Point{w[0] - dx, w[1] - dy}
		if math.Abs(dx) < 1e-10 && math.Abs(dy) < 1e-10 {
			break
		}
	}
	return w
}

const bdXPi = math.Pi * 3000.0 / 180.0

// GCJ02ToBD09 is Baidu's public forward transform from GCJ-02 to BD-09.
func GCJ02ToBD09(p orb.Point) orb.Point {
	x, y := p[0], p[1]
	z := math.Sqrt(x*x+y*y) + 0.00002*math.Sin(y*bdXPi)
	theta := math.Atan2(y, x) + 0.000003*math.Cos(x*bdXPi)
	return orb.Point{z*math.Cos(theta) + 0.0065, z*math.Sin(theta) + 0.006}
}

// BD09ToGCJ02 inverts GCJ02ToBD09. It starts from the usual closed-form
// approximation (off by up to a few decimetres) and refines it by
// fixed-point iteration to better than 1e-10°.
func BD09ToGCJ02(b orb.Point) orb.Point {
	x, y := b[0]-0.0065, b[1]-0.006
	z := math.Sqrt(x*x+y*y) - 0.00002*math.Sin(y*bdXPi)
	theta := math.Atan2(y, x) - 0.000003*math.Cos(x*bdXPi)
	g := orb.Point{z * math.Cos(theta), z * math.Sin(theta)}
	for range 10 {
		f := GCJ02ToBD09(g)
		dx, dy := f[0]-b[0], f[1]-b[1]
		g = orb.Point{g[0] - dx, g[1] - dy}
		if math.Abs(dx) < 1e-10 && math.Abs(dy) < 1e-10 {
			break
		}
	}
	return g
}
