package gis

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// ErrNoMatch is returned by Geocode when the text names no place the city
// knows.
var ErrNoMatch = errors.New("gis: address matches no known place")

// GeocodeResult is where an address is, as well as the city can tell.
type GeocodeResult struct {
	Point orb.Point `json:"point"` // WGS-84
	Place Place     `json:"place"` // Locate(Point)
	// Unit is the finest administrative unit the text named (or that
	// contains the named road or POI), and Level its level.
	Unit  Unit  `json:"unit"`
	Level Level `json:"level"`
	// MatchedBy says what fixed the point: "poi", "road", "village",
	// "town" or "district".
	MatchedBy string `json:"matched_by"`
	// Matched lists the gazetteer names found in the text, longest first.
	Matched []string `json:"matched"`
	// Confidence is 0..1: about 0.95 for a named POI, 0.85 for a village
	// or community confirmed by its town, 0.75 for a village alone, 0.6 for
	// a road alone, 0.5 for a town, 0.2 for only the district. Ambiguous
	// names (the same village name in two towns) lower it.
	Confidence float64 `json:"confidence"`
}

// gazetteer indexes every name and alias of the city's units, roads and
// resources by their first rune, for a left-to-right scan of the text.
type gazetteer struct {
	byRune map[rune][]gazEntry
}

type gazEntry struct {
	name  string
	kind  string // "district", "town", "village", "road", "poi"
	index int    // unit, road or resource index
	full  bool   // the official full name (not a short alias)
}

func newGazetteer(c *City) *gazetteer {
	g := &gazetteer{byRune: map[rune][]gazEntry{}}
	add := func(name, kind string, i int, full bool) {
		name = normalise(name)
		if len([]rune(name)) < 2 {
			return
		}
		r := []rune(name)[0]
		if slices.ContainsFunc(g.byRune[r], func(e gazEntry) bool { return e.name == name && e.kind == kind && e.index == i }) {
			return
		}
		g.byRune[r] = append(g.byRune[r], gazEntry{name, kind, i, full})
	}
	for i := range c.units {
		u := &c.units[i]
		var kind string
		switch u.level {
		case LevelDistrict:
			kind = "district"
		case LevelTown:
			kind = "town"
		case LevelVillage:
			kind = "village"
		default:
			continue
		}
		add(u.Name, kind, i, true)
		for _, a := range u.aliases {
			add(a, kind, i, false)
		}
		for _, a := range derivedAliases(u.Name, u.level) {
			add(a, kind, i, false)
		}
	}
	for i, r := range c.roads {
		if r.Name == "" {
			continue
		}
		add(r.Name, "road", i, true)
		for _, a := range r.aliases {
			add(a, "road", i, false)
		}
	}
	for i, r := range c.resources {
		add(r.Name, "poi", i, true)
		for _, a := range r.aliases {
			add(a, "poi", i, false)
		}
	}
	for r := range g.byRune {
		// Longest first, so the scan prefers 姜陈社区 to 姜陈.
		slices.SortStableFunc(g.byRune[r], func(a, b gazEntry) int { return cmp.Compare(len(b.name), len(a.name)) })
	}
	return g
}

// derivedAliases are the everyday forms of official names: 三水街道 → 三水,
// 桃园居委会 → 桃园社区, 邱刘村委会 → 邱刘村.
func derivedAliases(name string, l Level) []string {
	var out []string
	switch l {
	case LevelTown, LevelDistrict:
		for _, suf := range []string{"街道办事处", "街道", "镇", "乡", "区", "县"} {
			if b, ok := strings.CutSuffix(name, suf); ok && len([]rune(b)) >= 2 {
				out = append(out, b)
				break
			}
		}
	case LevelVillage:
		for _, suf := range []string{"社区居民委员会", "社区居委会", "居民委员会", "居委会"} {
			if b, ok := strings.CutSuffix(name, suf); ok && b != "" {
				return append(out, b+"社区", b+"居委会", b)
			}
		}
		for _, suf := range []string{"村民委员会", "村委会"} {
			if b, ok := strings.CutSuffix(name, suf); ok && b != "" {
				return append(out, b+"村", b)
			}
		}
		if b, ok := strings.CutSuffix(name, "社区"); ok && b != "" {
			out = append(out, b)
		}
	}
	return out
}

// normalise folds full-width characters to half-width, drops spaces and
// punctuation, and lower-cases Latin letters.
func normalise(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
		}
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

type gazMatch struct {
	gazEntry
	start, end int // rune offsets
}

// scan finds gazetteer names in the text, longest first, without overlaps.
func (g *gazetteer) scan(text string) []gazMatch {
	rs := []rune(text)
	var all []gazMatch
	for i := range rs {
		for _, e := range g.byRune[rs[i]] {
			n := len([]rune(e.name))
			if i+n <= len(rs) && string(rs[i:i+n]) == e.name {
				all = append(all, gazMatch{e, i, i + n})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b gazMatch) int { return cmp.Compare(b.end-b.start, a.end-a.start) })
	taken := make([]bool, len(rs))
	var out []gazMatch
	for _, m := range all {
		free := true
		for i := m.start; i < m.end; i++ {
			if taken[i] {
				free = false
				break
			}
		}
		// The same span may name several things (a village name in two
		// towns): keep all of them.
		if !free && !slices.ContainsFunc(out, func(o gazMatch) bool { return o.start == m.start && o.end == m.end }) {
			continue
		}
		for i := m.start; i < m.end; i++ {
			taken[i] = true
		}
		out = append(out, m)
	}
	return out
}

// Geocode finds the place an address names, for tickets without
// coordinates: "姜堰区三水街道姜陈社区人民路18号", "溱潼镇卫生院", "俞垛 叶甸村".
// It matches the names and aliases of towns/streets, villages/communities,
// roads and POIs (the resources layer) in the text, prefers the most
// specific consistent reading (a POI, then a road within the named unit,
// then a village of the named town, then the town), and returns a point:
// the POI itself, the point of the road nearest the named unit, or a point
// inside the unit. House numbers are not resolved. It returns ErrNoMatch
// when nothing matches.
func (c *City) Geocode(text string) (GeocodeResult, error) {
	ms := c.gaz.scan(normalise(text))
	if len(ms) == 0 {
		return GeocodeResult{}, ErrNoMatch
	}
	var names []string
	var towns, villages, roads, pois, districts []gazMatch
	for _, m := range ms {
		if !slices.Contains(names, m.name) {
			names = append(names, m.name)
		}
		switch m.kind {
		case "town":
			towns = append(towns, m)
		case "village":
			villages = append(villages, m)
		case "road":
			roads = append(roads, m)
		case "poi":
			pois = append(pois, m)
		case "district":
			districts = append(districts, m)
		}
	}
	// A span that reads as a town and as a village (俞垛 is 俞垛镇 and 俞垛
	// 居委会; 张甸 is 张甸镇 and 张甸村) is the town, unless the text names
	// no other village and used the village's own form (张甸村).
	if len(towns) > 0 {
		sameSpan := func(v gazMatch) bool {
			return slices.ContainsFunc(towns, func(t gazMatch) bool { return t.start == v.start && t.end == v.end })
		}
		other := slices.ContainsFunc(villages, func(v gazMatch) bool { return !sameSpan(v) })
		villages = slices.DeleteFunc(villages, func(v gazMatch) bool { return sameSpan(v) && (other || !v.full) })
	}
	townCodes := map[string]bool{}
	for _, t := range towns {
		townCodes[c.units[t.index].Code] = true
	}
	inTown := func(u int) bool { // u or an ancestor is a named town
		for ; u >= 0; u = c.units[u].parent {
			if townCodes[c.units[u].Code] {
				return true
			}
		}
		return false
	}
	res := GeocodeResult{Matched: names}
	finish := func(p orb.Point, by string, conf float64) (GeocodeResult, error) {
		res.Point, res.MatchedBy, res.Confidence = p, by, math.Max(0, math.Min(1, conf))
		if u := c.locateUnit(p); u >= 0 {
			res.Place = c.places[u]
			if res.Unit.Code == "" {
				// The unit containing a POI or road point: its village, or
				// the finest administrative level above grids.
				for ; u >= 0 && c.units[u].level == LevelGrid; u = c.units[u].parent {
				}
				if u >= 0 {
					res.Unit, res.Level = c.units[u].Unit, c.units[u].level
				}
			}
		}
		return res, nil
	}
	setUnit := func(u int) { res.Unit, res.Level = c.units[u].Unit, c.units[u].level }

	// 1. A POI, preferring one inside a named town.
	if len(pois) > 0 {
		best, conf := pois[0], 0.9
		for _, p := range pois {
			if len(towns) > 0 && inTown(c.locateUnit(c.resources[p.index].Point)) {
				best, conf = p, 0.95
				break
			}
		}
		if best.full && len(towns) == 0 {
			conf = 0.93
		}
		if !best.full {
			conf -= 0.15
		}
		if len(towns) > 0 && conf < 0.95 {
			conf -= 0.2 // the POI is not in the town the text names
		}
		return finish(c.resources[best.index].Point, "poi", conf)
	}

	// 2. The village: consistent with a named town if possible.
	village, vconf := -1, 0.0
	if len(villages) > 0 {
		var cands []int
		for _, v := range villages {
			if len(towns) == 0 || inTown(v.index) {
				cands = append(cands, v.index)
			}
		}
		switch {
		case len(cands) == 1:
			village, vconf = cands[0], 0.75
			if len(towns) > 0 {
				vconf = 0.85
			}
		case len(cands) > 1:
			village, vconf = cands[0], 0.75/float64(len(cands))+0.1
		default: // named villages, none in the named town
			village, vconf = villages[0].index, 0.45
		}
		if i := slices.IndexFunc(villages, func(m gazMatch) bool { return m.index == village }); i >= 0 && !villages[i].full && len([]rune(villages[i].name)) <= 2 {
			vconf -= 0.15 // a bare two-character name like 桃园 is weak evidence
		}
	}
	town := -1
	if len(towns) > 0 {
		town = towns[0].index
		if village >= 0 {
			for _, t := range towns {
				if c.units[village].parent == t.index {
					town = t.index
				}
			}
		}
	}

	// 3. Two roads that cross: their intersection (东方大道与青年路交叉口).
	if len(roads) >= 2 {
		if p, ok := crossingOf(c.roads[roads[0].index].Lines, c.roads[roads[1].index].Lines); ok {
			return finish(p, "road", 0.8)
		}
	}

	// 4. A road, placed near the named unit.
	if len(roads) > 0 {
		unit := village
		if unit < 0 {
			unit = town
		}
		r := &c.roads[roads[0].index]
		if unit >= 0 {
			setUnit(unit)
			centre := c.units[unit].centre
			p := nearestOnLines(r.Lines, centre)
			// The road passes the unit: a point on it. Otherwise the unit.
			if c.units[unit].shape.contains(p) || geo.Distance(p, centre) < 1500 {
				conf := 0.8
				if village >= 0 {
					conf = math.Min(0.9, vconf+0.05)
				}
				return finish(p, "road", conf)
			}
			if village >= 0 {
				return finish(centre, "village", vconf-0.1)
			}
			return finish(centre, "town", 0.45)
		}
		return finish(r.Lines[0][len(r.Lines[0])/2], "road", 0.6)
	}
	if village >= 0 {
		setUnit(village)
		return finish(c.units[village].centre, "village", vconf)
	}
	if town >= 0 {
		setUnit(town)
		conf := 0.5
		if len(towns) > 1 && c.units[towns[0].index].Code != c.units[towns[1].index].Code {
			conf = 0.35
		}
		return finish(c.units[town].centre, "town", conf)
	}
	setUnit(districts[0].index)
	return finish(c.units[districts[0].index].centre, "district", 0.2)
}

// nearestOnLines is the point of the lines nearest p (planar in a local
// metric, exact enough at city scale).
func nearestOnLines(ls orb.MultiLineString, p orb.Point) orb.Point {
	kx := math.Cos(p[1] * math.Pi / 180)
	best, bd := orb.Point{}, math.Inf(1)
	for _, l := range ls {
		for i := 0; i+1 < len(l); i++ {
			a := orb.Point{(l[i][0] - p[0]) * kx, l[i][1] - p[1]}
			b := orb.Point{(l[i+1][0] - p[0]) * kx, l[i+1][1] - p[1]}
			dx, dy := b[0]-a[0], b[1]-a[1]
			t := 0.0
			if d := dx*dx + dy*dy; d > 0 {
				t = math.Max(0, math.Min(1, -(a[0]*dx+a[1]*dy)/d))
			}
			q := orb.Point{a[0] + t*dx, a[1] + t*dy}
			if d := q[0]*q[0] + q[1]*q[1]; d < bd {
				bd, best = d, orb.Point{q[0]/kx + p[0], q[1] + p[1]}
			}
		}
	}
	return best
}

// crossingOf returns a point where two roads cross.
func crossingOf(a, b orb.MultiLineString) (orb.Point, bool) {
	for _, la := range a {
		for i := 0; i+1 < len(la); i++ {
			for _, lb := range b {
				for j := 0; j+1 < len(lb); j++ {
					p, q, r, s := la[i], la[i+1], lb[j], lb[j+1]
					o1, o2 := orient(p, q, r), orient(p, q, s)
					o3, o4 := orient(r, s, p), orient(r, s, q)
					if (o1 > 0) != (o2 > 0) && (o3 > 0) != (o4 > 0) && o1 != 0 && o3 != 0 {
						t := o3 / (o3 - o4)
						return orb.Point{p[0] + t*(q[0]-p[0]), p[1] + t*(q[1]-p[1])}, true
					}
				}
			}
		}
	}
	return orb.Point{}, false
}
