package gis

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
)

// TestLayerForZoom checks that simplified layers are smaller and still
// tile: no random point falls in two cells, and few fall in none.
func TestLayerForZoom(t *testing.T) {
	c := newLattice(12, 10, 60, 0.5, 3).load(t)
	full, _ := c.Layer("grids")
	for _, z := range []int{8, 11, 13} {
		b, ok := c.LayerForZoom("grids", z)
		if !ok || len(b) >= len(full) {
			t.Fatalf("zoom %d: %d bytes, full %d", z, len(b), len(full))
		}
		var fc struct {
			Features []struct {
				Geometry struct {
					Type        string          `json:"type"`
					Coordinates json.RawMessage `json:"coordinates"`
				} `json:"geometry"`
			} `json:"features"`
		}
		if err := json.Unmarshal(b, &fc); err != nil {
			t.Fatal(err)
		}
		var shapes []*shape
		for _, f := range fc.Features {
			var poly [][][2]float64
			if err := json.Unmarshal(f.Geometry.Coordinates, &poly); err != nil {
				t.Fatal(err)
			}
			var rings []orb.Ring
			for _, r := range poly {
				var ring orb.Ring
				for _, p := range r {
					ring = append(ring, orb.Point{p[0], p[1]})
				}
				rings = append(rings, ring)
			}
			shapes = append(shapes, newShape(rings))
		}
		r := rand.New(rand.NewPCG(1, uint64(z)))
		none := 0
		const n = 5000
		inner := c.Bounds().Pad(-0.01)
		for range n {
			p := orb.Point{inner.Min[0] + r.Float64()*(inner.Max[0]-inner.Min[0]), inner.Min[1] + r.Float64()*(inner.Max[1]-inner.Min[1])}
			k := 0
			for _, s := range shapes {
				if s.contains(p) {
					k++
				}
			}
			if k > 1 {
				t.Fatalf("zoom %d: %v is in %d cells", z, p, k)
			}
			if k == 0 {
				none++
			}
		}
		if none > n/100 {
			t.Errorf("zoom %d: %d of %d points in no cell", z, none, n)
		}
		t.Logf("zoom %2d: %7d bytes (full %d), %d points in no cell", z, len(b), len(full), none)
	}
	if b, _ := c.LayerForZoom("grids", 15); &b[0] != &full[0] {
		t.Error("zoom 15 should serve the full layer")
	}
}
