package gis

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/paulmach/orb"
)

// Kinds of problem Load reports. A *Problem wraps one of them, so callers
// can test with errors.Is(err, gis.ErrSelfIntersection) on the error Load
// returns.
var (
	ErrMissingLayer     = errors.New("required layer missing")
	ErrBadJSON          = errors.New("not a GeoJSON FeatureCollection")
	ErrGeometryType     = errors.New("wrong geometry type")
	ErrTooFewPoints     = errors.New("too few points")
	ErrUnclosedRing     = errors.New("unclosed ring")
	ErrNotFinite        = errors.New("coordinate is NaN or infinite")
	ErrOutOfRange       = errors.New("coordinate out of WGS-84 range")
	ErrSelfIntersection = errors.New("self-intersection")
	ErrZeroArea         = errors.New("ring has zero area")
	ErrMissingCode      = errors.New("missing code")
	ErrMissingName      = errors.New("missing name")
	ErrDuplicateCode    = errors.New("duplicate code")
	ErrUnknownParent    = errors.New("parent not found")
	ErrNotInParent      = errors.New("not inside its parent")
	ErrMissingKind      = errors.New("missing kind")
)

// NestingTolerance is how far, in degrees (about 0.1 m), a vertex of a
// child unit may lie outside its parent's boundary and still count as
// inside it: shared boundaries that went through a few floating-point
// operations are not bit-identical.
const NestingTolerance = 1e-6

// Problem is one thing wrong with one feature of one layer (Feature is -1
// for a problem with the layer as a whole).
type Problem struct {
	Layer   string // file name, e.g. "towns.geojson"
	Feature int    // index in the FeatureCollection, from 0
	Code    string // the feature's code or id, if it has one
	Kind    error  // one of the Err… values above
	Detail  string
}

func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.Layer)
	if p.Feature >= 0 {
		fmt.Fprintf(&b, " feature %d", p.Feature)
		if p.Code != "" {
			fmt.Fprintf(&b, " (%s)", p.Code)
		}
	}
	b.WriteString(": ")
	b.WriteString(p.Kind.Error())
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	return b.String()
}

// Unwrap returns the kind of problem.
func (p *Problem) Unwrap() error { return p.Kind }

// ValidationError lists every problem Load found in a city's layers.
type ValidationError struct {
	Problems []*Problem
}

func (e *ValidationError) Error() string {
	const show = 20
	var b strings.Builder
	fmt.Fprintf(&b, "gis: %d problem(s) in the city layers", len(e.Problems))
	for i, p := range e.Problems {
		if i == show {
			fmt.Fprintf(&b, "\n\t… and %d more", len(e.Problems)-show)
			break
		}
		b.WriteString("\n\t")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// checkPosition reports a problem with one raw coordinate: its kind (nil
// if none) and a detail.
func checkPosition(p orb.Point) (kind error, detail string) { //nolint:staticcheck // kind is a value, not this function's failure
	x, y := p[0], p[1]
	if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		return ErrNotFinite, fmt.Sprintf("[%v, %v]", x, y)
	}
	if x < -180 || x > 180 || y < -90 || y > 90 {
		hint := "not longitude/latitude in degrees: projected metres or another CRS?"
		if math.Abs(x) <= 90 && math.Abs(y) <= 180 {
			hint = "looks like [lat, lon]; GeoJSON is [lon, lat]"
		}
		return ErrOutOfRange, fmt.Sprintf("[%v, %v] (%s)", x, y, hint)
	}
	return nil, ""
}

type seg struct {
	a, b       orb.Point
	ring, i, n int // ring index, edge index in ring, edges in ring
	minX, maxX float64
}

// selfIntersections finds edges of a polygon (all rings, all parts) that
// cross each other or overlap along a stretch. Rings touching at a single
// point are allowed, as OGC allows them between rings of a polygon. It
// returns at most max descriptions. It is a sweep over edges sorted by
// their west end, near-linear for real boundaries.
func selfIntersections(rings []orb.Ring, limit int) []string {
	var segs []seg
	for ri, r := range rings {
		n := len(r) - 1
		for i := 0; i < n; i++ {
			a, b := r[i], r[i+1]
			segs = append(segs, seg{a: a, b: b, ring: ri, i: i, n: n, minX: math.Min(a[0], b[0]), maxX: math.Max(a[0], b[0])})
		}
	}
	slices.SortFunc(segs, func(p, q seg) int {
		switch {
		case p.minX < q.minX:
			return -1
		case p.minX > q.minX:
			return 1
		}
		return 0
	})
	var out []string
	active := make([]int, 0, 64)
	for k := range segs {
		s := &segs[k]
		keep := active[:0]
		for _, j := range active {
			if segs[j].maxX >= s.minX {
				keep = append(keep, j)
			}
		}
		active = keep
		for _, j := range active {
			t := &segs[j]
			if math.Max(s.a[1], s.b[1]) < math.Min(t.a[1], t.b[1]) || math.Min(s.a[1], s.b[1]) > math.Max(t.a[1], t.b[1]) {
				continue
			}
			if bad, what := segsConflict(s, t); bad {
				out = append(out, fmt.Sprintf("edge %d of ring %d and edge %d of ring %d %s", t.i, t.ring, s.i, s.ring, what))
				if len(out) >= limit {
					return out
				}
			}
		}
		active = append(active, k)
	}
	return out
}

func segsConflict(s, t *seg) (bool, string) {
	adjacent := s.ring == t.ring && (abs(s.i-t.i) == 1 || abs(s.i-t.i) == s.n-1)
	if adjacent {
		// Consecutive edges share a vertex; they conflict only if they fold
		// back over each other (a spike).
		var v, p, q orb.Point
		switch {
		case s.a == t.b:
			v, p, q = s.a, s.b, t.a
		case s.b == t.a:
			v, p, q = s.b, s.a, t.b
		default:
			return false, ""
		}
		if orient(v, p, q) == 0 && (p[0]-v[0])*(q[0]-v[0])+(p[1]-v[1])*(q[1]-v[1]) > 0 {
			return true, fmt.Sprintf("fold back on each other at %v (a spike)", v)
		}
		return false, ""
	}
	o1, o2 := orient(s.a, s.b, t.a), orient(s.a, s.b, t.b)
	o3, o4 := orient(t.a, t.b, s.a), orient(t.a, t.b, s.b)
	if ((o1 > 0 && o2 < 0) || (o1 < 0 && o2 > 0)) && ((o3 > 0 && o4 < 0) || (o3 < 0 && o4 > 0)) {
		return true, fmt.Sprintf("cross near %v", crossing(s.a, s.b, t.a, t.b))
	}
	if o1 == 0 && o2 == 0 {
		// Collinear: conflict if they share more than a point.
		dx, dy := s.b[0]-s.a[0], s.b[1]-s.a[1]
		proj := func(p orb.Point) float64 { return (p[0]-s.a[0])*dx + (p[1]-s.a[1])*dy }
		l := dx*dx + dy*dy
		t0, t1 := proj(t.a), proj(t.b)
		if t0 > t1 {
			t0, t1 = t1, t0
		}
		if math.Min(l, t1)-math.Max(0, t0) > 0 {
			return true, "overlap along a stretch"
		}
	}
	return false, ""
}

func crossing(a, b, c, d orb.Point) orb.Point {
	den := (b[0]-a[0])*(d[1]-c[1]) - (b[1]-a[1])*(d[0]-c[0])
	if den == 0 {
		return a
	}
	t := ((c[0]-a[0])*(d[1]-c[1]) - (c[1]-a[1])*(d[0]-c[0])) / den
	return orb.Point{round7(a[0] + t*(b[0]-a[0])), round7(a[1] + t*(b[1]-a[1]))}
}

func round7(x float64) float64 { return math.Round(x*1e7) / 1e7 }

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}
