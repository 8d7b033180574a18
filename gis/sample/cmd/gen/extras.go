package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/paulmach/orb"
)

// extras generates the road network and the resources on top of the
// administrative layers (already written and loaded as c).
type extras struct {
	c       *gis.City
	g       *genCity
	r       *rand.Rand
	seats   map[string]orb.Point // town code → seat (its first community)
	roads   []feature
	res     []feature
	counter map[string]int
}

func writeExtras(dir string, c *gis.City, g *genCity) error {
	x := &extras{c: c, g: g, r: newRand(3), seats: map[string]orb.Point{}, counter: map[string]int{}}
	for _, t := range g.towns {
		info, _ := c.Unit(t.code)
		x.seats[t.code] = info.Centre
		for _, v := range t.villages {
			if isCommunity(v.div.Name) {
				vi, _ := c.Unit(v.code)
				x.seats[t.code] = vi.Centre
				break
			}
		}
	}
	x.countyRoads()
	x.urbanRoads()
	x.resources()
	if err := writeLayer(dir, "roads.geojson", "roads", x.roads); err != nil {
		return err
	}
	return writeLayer(dir, "resources.geojson", "resources", x.res)
}

func (x *extras) townOf(p orb.Point) (string, bool) {
	pl, err := x.c.Locate(p)
	return pl.Town.Code, err == nil
}

func isSpecial(t *gTown) bool { return t.div.Code[6:] >= "400" }
func isStreet(t *gTown) bool  { return t.div.Code[6:] < "100" }

// countyRoads joins the seats of neighbouring towns, through a point on
// their shared boundary, and names each road after the two towns, as
// county roads are named (溱潼–俞垛 → 溱俞线).
func (x *extras) countyRoads() {
	g := x.g
	townOf := map[*gGrid]*gTown{}
	for _, t := range g.towns {
		for _, v := range t.villages {
			for _, gr := range v.grids {
				townOf[gr] = t
			}
		}
	}
	type pair struct{ a, b int }
	shared := map[pair][]int{} // vertex ids on the shared boundary
	edgeOwner := map[[2]int]*gGrid{}
	tIdx := map[*gTown]int{}
	for i, t := range g.towns {
		tIdx[t] = i
	}
	for _, gr := range g.grids {
		for _, r := range gr.rings {
			for i := range r {
				u, v := r[i], r[(i+1)%len(r)]
				if o, ok := edgeOwner[[2]int{v, u}]; ok && townOf[o] != townOf[gr] {
					a, b := tIdx[townOf[o]], tIdx[townOf[gr]]
					if a > b {
						a, b = b, a
					}
					shared[pair{a, b}] = append(shared[pair{a, b}], u)
				}
				edgeOwner[[2]int{u, v}] = gr
			}
		}
	}
	var pairs []pair
	for p, ids := range shared {
		if len(ids) >= 3 && !isSpecial(g.towns[p.a]) && !isSpecial(g.towns[p.b]) {
			pairs = append(pairs, p)
		}
	}
	slices.SortFunc(pairs, func(p, q pair) int { return (p.a*100 + p.b) - (q.a*100 + q.b) })
	names := map[string]bool{}
	for _, p := range pairs {
		ta, tb := g.towns[p.a], g.towns[p.b]
		if isStreet(ta) && isStreet(tb) {
			continue // the urban streets get the city's own roads
		}
		a, b := x.seats[ta.code], x.seats[tb.code]
		m := orb.Point{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2}
		ids := shared[p]
		best := ids[0]
		for _, id := range ids {
			if dist2(g.verts[id], m) < dist2(g.verts[best], m) {
				best = id
			}
		}
		cross := g.verts[best]
		line := orb.LineString{a, x.jitter(a, cross), cross, x.jitter(cross, b), b}
		name := string([]rune(townBare(ta.div.Name))[:1]) + string([]rune(townBare(tb.div.Name))[:1]) + "线"
		if names[name] {
			continue
		}
		names[name] = true
		x.addRoad(name, "county", line, ta.code)
	}
}

func dist2(a, b orb.Point) float64 {
	dx, dy := (a[0]-b[0])*math.Cos(a[1]*math.Pi/180), a[1]-b[1]
	return dx*dx + dy*dy
}

// jitter returns the midpoint of a and b moved sideways by up to 8 % of
// their distance, if it stays in the district.
func (x *extras) jitter(a, b orb.Point) orb.Point {
	m := orb.Point{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2}
	off := (x.r.Float64() - 0.5) * 0.16
	j := orb.Point{m[0] - off*(b[1]-a[1]), m[1] + off*(b[0]-a[0])}
	if _, ok := x.townOf(j); ok {
		return j
	}
	return m
}

func (x *extras) addRoad(name, kind string, line orb.LineString, town string) {
	x.counter["road"]++
	x.roads = append(x.roads, feature{
		props: map[string]any{"id": fmt.Sprintf("road-%03d", x.counter["road"]), "name": name, "kind": kind, "schematic": true, "town": town},
		geom:  line,
	})
}

// urbanRoads lays a grid of named streets over the urban streets (街道),
// kept where it runs inside them.
func (x *extras) urbanRoads() {
	var centre orb.Point
	for _, t := range x.g.towns {
		if isStreet(t) {
			centre = x.seats[t.code]
			break
		}
	}
	ns := []string{"人民路", "三水大道", "青年路", "东方大道", "天目山路", "望海路"}
	ew := []string{"罗塘路", "文昌路", "团结路", "府前路", "太平路", "健康路"}
	kx := 1 / (111320 * math.Cos(centre[1]*math.Pi/180))
	ky := 1 / 110574.0
	urban := func(p orb.Point) bool {
		pl, err := x.c.Locate(p)
		return err == nil && pl.Town.Code[6:9] < "100"
	}
	for i, name := range ns {
		dx := (float64(i) - 2.5) * 1300
		var pts []orb.Point
		for s := -6000.0; s <= 6000; s += 150 {
			pts = append(pts, orb.Point{centre[0] + dx*kx + s*0.08*kx, centre[1] + s*ky})
		}
		x.keepInside(name, pts, urban)
	}
	for i, name := range ew {
		dy := (float64(i) - 2.5) * 1200
		var pts []orb.Point
		for s := -6000.0; s <= 6000; s += 150 {
			pts = append(pts, orb.Point{centre[0] + s*kx, centre[1] + dy*ky - s*0.06*ky})
		}
		x.keepInside(name, pts, urban)
	}
}

// keepInside adds the longest inside run of pts as a road.
func (x *extras) keepInside(name string, pts []orb.Point, inside func(orb.Point) bool) {
	var best, cur orb.LineString
	for _, p := range pts {
		if inside(p) {
			cur = append(cur, p)
			if len(cur) > len(best) {
				best = cur
			}
		} else {
			cur = nil
		}
	}
	if len(best) >= 4 {
		// Straight runs need only their ends and a few points between.
		var line orb.LineString
		for i, p := range best {
			if i == 0 || i == len(best)-1 || i%8 == 0 {
				line = append(line, p)
			}
		}
		town, _ := x.townOf(best[len(best)/2])
		x.addRoad(name, "urban", line, town)
	}
}

// near returns a point within radius metres of p inside the same town.
func (x *extras) near(p orb.Point, radius float64) orb.Point {
	want, _ := x.townOf(p)
	for range 20 {
		a := x.r.Float64() * 2 * math.Pi
		d := radius * math.Sqrt(x.r.Float64())
		q := orb.Point{p[0] + d*math.Cos(a)/(111320*math.Cos(p[1]*math.Pi/180)), p[1] + d*math.Sin(a)/110574}
		if t, ok := x.townOf(q); ok && t == want {
			return q
		}
	}
	return p
}

func (x *extras) add(kind, prefix, name string, p orb.Point, aliases ...string) {
	x.counter[kind]++
	width := 3
	if kind == "smoke_sensor" || kind == "camera" {
		width = 4
	}
	pl, _ := x.c.Locate(p)
	addr := "泰州市姜堰区" + pl.Town.Name
	if v, ok := x.c.Unit(pl.Village.Code); ok && len(v.Aliases) > 0 {
		addr += v.Aliases[0]
	}
	props := map[string]any{
		"id": fmt.Sprintf("%s-%0*d", prefix, width, x.counter[kind]), "kind": kind, "name": name, "schematic": true,
		"address": addr, "town": pl.Town.Code, "village": pl.Village.Code,
	}
	if len(aliases) > 0 {
		props["aliases"] = aliases
	}
	x.res = append(x.res, feature{props: props, geom: p})
}

func (x *extras) resources() {
	var luotang, sanshui, tianmu *gTown
	for _, t := range x.g.towns {
		switch {
		case strings.HasPrefix(t.div.Name, "罗塘"):
			luotang = t
		case strings.HasPrefix(t.div.Name, "三水"):
			sanshui = t
		case strings.HasPrefix(t.div.Name, "天目山"):
			tianmu = t
		}
	}
	seat := func(t *gTown) orb.Point {
		if t == nil {
			return x.seats[x.g.towns[0].code]
		}
		return x.seats[t.code]
	}
	// District-level services in the urban centre.
	x.add("fire_station", "fire", "姜堰区消防救援大队", x.near(seat(luotang), 500), "消防大队", "姜堰消防")
	x.add("hospital", "hosp", "姜堰区人民医院", x.near(seat(luotang), 600), "区人民医院", "人民医院")
	x.add("hospital", "hosp", "姜堰区中医院", x.near(seat(sanshui), 600), "区中医院", "中医院")
	x.add("hospital", "hosp", "姜堰区妇幼保健院", x.near(seat(tianmu), 600), "妇幼保健院")
	x.add("police", "police", "泰州市公安局姜堰分局", x.near(seat(luotang), 600), "姜堰公安分局", "公安分局")
	x.add("police", "police", "姜堰区交警大队", x.near(seat(sanshui), 600), "交警大队")
	x.add("shelter", "shelter", "姜堰区中心广场应急避难场所", x.near(seat(luotang), 800), "中心广场")

	for _, t := range x.g.towns {
		if isSpecial(t) {
			continue
		}
		s, bare := seat(t), townBare(t.div.Name)
		switch {
		case isStreet(t):
			if t != luotang {
				x.add("fire_station", "fire", bare+"消防救援站", x.near(s, 700))
			}
			x.add("hospital", "hosp", t.div.Name+"社区卫生服务中心", x.near(s, 500))
		default:
			x.add("fire_station", "fire", t.div.Name+"专职消防队", x.near(s, 700), bare+"消防队")
			x.add("hospital", "hosp", t.div.Name+"卫生院", x.near(s, 500), bare+"卫生院")
		}
		x.add("police", "police", bare+"派出所", x.near(s, 600))
		x.add("shelter", "shelter", t.div.Name+"应急避难场所", x.near(s, 800), bare+"避难场所")
		if !isStreet(t) {
			for range 2 {
				x.add("water_sensor", "water", bare+"河道水位站", x.near(s, 2500))
			}
		}
		for i := range 3 {
			x.add("camera", "cam", fmt.Sprintf("%s政府路口视频监控%d", t.div.Name, i+1), x.near(s, 400))
		}
	}
	for _, v := range x.g.villages {
		if isSpecial(v.town) {
			continue
		}
		short, _ := shortName(v.div.Name)
		r := x.r
		if r.Float64() < 0.35 {
			if p, ok := x.c.RandomPointIn(v.code, r); ok {
				x.add("shelter", "shelter", short+"应急避难点", p)
			}
		}
		if isCommunity(v.div.Name) {
			for i := range 3 + r.IntN(2) {
				if p, ok := x.c.RandomPointIn(v.code, r); ok {
					x.add("smoke_sensor", "smoke", fmt.Sprintf("%s智能烟感%d号", short, i+1), p)
				}
			}
		} else if r.Float64() < 0.5 {
			if p, ok := x.c.RandomPointIn(v.code, r); ok {
				x.add("water_sensor", "water", short+"低洼处水位监测点", p)
			}
		}
	}
	// Cameras along the roads, about every 1.2 km.
	for _, f := range x.roads {
		line := f.geom.(orb.LineString)
		name := f.props["name"].(string)
		n := 0
		for i := 0; i+1 < len(line); i++ {
			a, b := line[i], line[i+1]
			l := math.Sqrt(dist2(a, b)) * 111000
			for s := 600.0; s < l; s += 1200 {
				t := s / l
				p := orb.Point{a[0] + t*(b[0]-a[0]), a[1] + t*(b[1]-a[1])}
				if _, ok := x.townOf(p); !ok {
					continue
				}
				n++
				x.add("camera", "cam", fmt.Sprintf("%s视频监控%d", name, n), p)
			}
		}
	}
}
