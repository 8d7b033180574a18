package gis

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// Benchmarks print, besides ns/op: lookups/s on one core, p50/p99 of
// single calls (timed one by one, so they include about 20–40 ns of clock
// overhead), and the brute-force baseline measured in the same run with
// the speed-up over it. Run with:
//
//	go test -run '^$' -bench . -benchtime 2s -count 5 ./...

func queryPoints(b orb.Bound, n int, seed uint64) []orb.Point {
	r := rand.New(rand.NewPCG(seed, 11))
	pts := make([]orb.Point, n)
	for i := range pts {
		pts[i] = orb.Point{b.Min[0] + r.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + r.Float64()*(b.Max[1]-b.Min[1])}
	}
	return pts
}

// bruteLocate is the baseline: what Locate would be without an index —
// scan every polygon of every level (bounding box first, then
// orb/planar's point-in-polygon), and keep the finest hit.
func bruteLocate(geoms []orb.MultiPolygon, bounds []orb.Bound, p orb.Point) int {
	hit := -1
	for i, g := range geoms {
		if bounds[i].Contains(p) && planar.MultiPolygonContains(g, p) {
			hit = i
		}
	}
	return hit
}

// benchLocate runs Locate over pts, reporting the figures above; geoms are
// every polygon of every level, for the brute-force baseline.
func benchLocate(b *testing.B, c *City, pts []orb.Point) {
	var geoms []orb.MultiPolygon
	var bounds []orb.Bound
	for _, u := range c.units {
		geoms = append(geoms, u.geom)
		bounds = append(bounds, u.shape.bound)
	}
	// Baseline, same run.
	nBrute := min(len(pts), 400)
	start := time.Now()
	for _, p := range pts[:nBrute] {
		bruteLocate(geoms, bounds, p)
	}
	brute := float64(time.Since(start).Nanoseconds()) / float64(nBrute)

	// Single-call latency distribution.
	lat := make([]int64, 0, 50000)
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
	b.ReportMetric(brute, "brute-ns/op")
	b.ReportMetric(brute/ns, "speedup")
}

func BenchmarkLocateStress10kCells(b *testing.B) {
	c := newLattice(100, 100, 2, 0.6, 1).load(b)
	benchLocate(b, c, queryPoints(c.Bounds(), 1<<14, 1))
}

func BenchmarkLocateStress100Polys1000Vertices(b *testing.B) {
	l := newLattice(10, 10, 250, 0.5, 1)
	if n := len(l.cells[0]); n < 1000 {
		b.Fatalf("cells have %d vertices", n)
	}
	c := l.load(b)
	benchLocate(b, c, queryPoints(c.Bounds(), 1<<14, 2))
}

func BenchmarkNearestK5Of10k(b *testing.B) {
	c := withResources(newLattice(10, 10, 0, 0.5, 1), 10000, 4).load(b)
	pts := queryPoints(c.Bounds(), 1<<12, 3)
	// Baseline: sort all by distance.
	start := time.Now()
	for _, p := range pts[:50] {
		bruteNearest(c, p, "", 5)
	}
	brute := float64(time.Since(start).Nanoseconds()) / 50
	b.ResetTimer()
	i := 0
	for b.Loop() {
		_ = c.Nearest(pts[i&(len(pts)-1)], "", 5)
		i++
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(brute, "brute-ns/op")
	b.ReportMetric(brute/ns, "speedup")
}

func BenchmarkNearestK5Of10kOneKind(b *testing.B) {
	c := withResources(newLattice(10, 10, 0, 0.5, 1), 10000, 4).load(b)
	pts := queryPoints(c.Bounds(), 1<<12, 3)
	i := 0
	for b.Loop() {
		_ = c.Nearest(pts[i&(len(pts)-1)], "hospital", 5)
		i++
	}
}

func BenchmarkLoadStress10kCells(b *testing.B) {
	l := newLattice(100, 100, 2, 0.6, 1)
	for b.Loop() {
		if _, err := Load(l.fsys); err != nil {
			b.Fatal(err)
		}
	}
}
