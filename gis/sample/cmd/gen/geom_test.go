package main

import (
	"math"
	"math/rand/v2"
	"testing"
)

// star is a non-convex simple polygon (counter-clockwise) with n spikes.
func star(n int, r *rand.Rand) ring {
	var out ring
	for i := range 2 * n {
		a := float64(i) * math.Pi / float64(n)
		rad := 1000.0
		if i%2 == 1 {
			rad = 300 + 400*r.Float64()
		}
		out = append(out, xy{rad * math.Cos(a), rad * math.Sin(a)})
	}
	return out
}

func totalArea(rs []ring) float64 {
	var s float64
	for _, r := range rs {
		s += r.area()
	}
	return s
}

// TestClipHalfPartitions checks that clipping a non-convex polygon by a
// half-plane and by its complement gives simple pieces whose areas add up
// to the whole, each piece on the right side.
func TestClipHalfPartitions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		p := star(3+r.IntN(12), r)
		a := r.Float64() * 2 * math.Pi
		h := halfPlane{math.Cos(a), math.Sin(a), (r.Float64() - 0.5) * 1500}
		in, out := clipHalf(p, h), clipHalf(p, h.neg())
		if got, want := totalArea(in)+totalArea(out), p.area(); math.Abs(got-want) > 1e-6*want+2 {
			t.Fatalf("case %d: pieces %.3f + %.3f = %.3f, polygon %.3f", i, totalArea(in), totalArea(out), got, want)
		}
		for _, piece := range in {
			if piece.area() <= 0 {
				t.Fatalf("case %d: piece not counter-clockwise", i)
			}
			for _, v := range piece {
				if h.f(v) < -1e-6 {
					t.Fatalf("case %d: vertex %v on the wrong side (%g)", i, v, h.f(v))
				}
			}
		}
	}
}

func TestClipConvex(t *testing.T) {
	sq := ring{{0, 0}, {10, 0}, {10, 10}, {0, 10}}
	got := clipConvex(sq, halfPlane{-1, 0, 4}) // x ≤ 4
	if math.Abs(got.area()-40) > 1e-9 {
		t.Fatalf("area %g, want 40", got.area())
	}
}

func TestBisectorsAreExactlyOpposite(t *testing.T) {
	a, b := xy{1.234, 5.678}, xy{-9.87, 6.54}
	h1, h2 := bisector(a, b, 0, 0, 3, 7), bisector(b, a, 0, 0, 7, 3)
	if h1 != h2.neg() {
		t.Fatalf("%v vs %v", h1, h2)
	}
}

func TestCutLoopsAndUntwist(t *testing.T) {
	// A square with a small loop hanging off a repeated vertex.
	r := ring{{0, 0}, {10, 0}, {10, 10}, {12, 12}, {11, 12}, {10, 10}, {0, 10}}
	if got := cutLoops(r); len(got) != 4 || math.Abs(got.area()-100) > 1e-9 {
		t.Fatalf("cutLoops = %v", got)
	}
	// A square whose edge has a small Z-fold: edges 1 and 3 cross.
	z := ring{{0, 0}, {5, 0}, {6, 1}, {6, -1}, {7, 0}, {10, 0}, {10, 10}, {0, 10}}
	got := untwist(z)
	for i := range got {
		for k := 2; k < len(got)-1; k++ {
			j := (i + k) % len(got)
			a, b, c, d := got[i], got[(i+1)%len(got)], got[j], got[(j+1)%len(got)]
			o1, o2 := b.sub(a).cross(c.sub(a)), b.sub(a).cross(d.sub(a))
			o3, o4 := d.sub(c).cross(a.sub(c)), d.sub(c).cross(b.sub(c))
			if o1*o2 < 0 && o3*o4 < 0 {
				t.Fatalf("untwist left crossing edges in %v", got)
			}
		}
	}
}

func TestShortName(t *testing.T) {
	for _, tc := range []struct{ in, short, bare string }{
		{"桃园居委会", "桃园社区", "桃园"},
		{"姜陈社区居委会", "姜陈社区", "姜陈"},
		{"邱刘村委会", "邱刘村", "邱刘"},
		{"风景区虚拟社区", "风景区虚拟社区", "风景区虚拟"},
	} {
		if s, b := shortName(tc.in); s != tc.short || b != tc.bare {
			t.Errorf("shortName(%s) = %s, %s; want %s, %s", tc.in, s, b, tc.short, tc.bare)
		}
	}
}
