package sample

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// BenchmarkLocate measures Locate over the full hierarchy of the sample
// city (district, 18 towns, 285 villages, ~1,600 grid cells) on uniform
// random points of its bounding box (about 70 % fall inside), and in the
// same run a brute-force scan of the same polygons (bounding box, then
// orb/planar point-in-polygon, every polygon of every level). It reports
// lookups/s on one core, the p50/p99 of single calls (timed one by one,
// clock overhead of a few tens of ns included) and the speed-up.
func BenchmarkLocate(b *testing.B) {
	c := load(b)
	r := rand.New(rand.NewPCG(1, 2))
	bd := c.Bounds()
	pts := make([]orb.Point, 1<<14)
	for i := range pts {
		pts[i] = orb.Point{bd.Min[0] + r.Float64()*(bd.Max[0]-bd.Min[0]), bd.Min[1] + r.Float64()*(bd.Max[1]-bd.Min[1])}
	}
	var geoms []orb.MultiPolygon
	var bounds []orb.Bound
	for _, l := range []gis.Level{gis.LevelDistrict, gis.LevelTown, gis.LevelVillage, gis.LevelGrid} {
		for _, u := range c.Units(l) {
			info, _ := c.Unit(u.Code)
			geoms = append(geoms, info.Geom)
			bounds = append(bounds, info.Bound)
		}
	}
	brute := func(p orb.Point) int {
		hit := -1
		for i, g := range geoms {
			if bounds[i].Contains(p) && planar.MultiPolygonContains(g, p) {
				hit = i
			}
		}
		return hit
	}
	const nBrute = 2000
	start := time.Now()
	for _, p := range pts[:nBrute] {
		brute(p)
	}
	bruteNs := float64(time.Since(start).Nanoseconds()) / nBrute

	lat := make([]int64, 0, 100000)
	for i := range cap(lat) {
		p := pts[i%len(pts)]
		t0 := time.Now()
		_, _ = c.Locate(p)
		lat = append(lat, time.Since(t0).Nanoseconds())
	}
	slices.Sort(lat)

	b.ResetTimer()
	i := 0
	for b.Loop() {
		_, _ = c.Locate(pts[i&(len(pts)-1)])
		i++
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(1e9/ns, "lookups/s")
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
	b.ReportMetric(bruteNs, "brute-ns/op")
	b.ReportMetric(bruteNs/ns, "speedup")
}

// BenchmarkNearest is Nearest k=5 of any kind among the sample's resources.
func BenchmarkNearest(b *testing.B) {
	c := load(b)
	r := rand.New(rand.NewPCG(3, 4))
	bd := c.Bounds()
	pts := make([]orb.Point, 1<<12)
	for i := range pts {
		pts[i] = orb.Point{bd.Min[0] + r.Float64()*(bd.Max[0]-bd.Min[0]), bd.Min[1] + r.Float64()*(bd.Max[1]-bd.Min[1])}
	}
	i := 0
	for b.Loop() {
		_ = c.Nearest(pts[i&(len(pts)-1)], "", 5)
		i++
	}
}
