// Package simulate generates a realistic stream of the four sources for a
// city — 12345 hotline tickets (mostly addresses, some with 高德 GCJ-02
// points), grid workers' patrol reports (GPS, photos), IoT and 110/119/120
// alarms near the sensors and stations of the city, and traffic events on
// its roads — including repeated reports of the same problem, as happens.
package simulate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paulmach/orb"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/gis/crs"
)

// Record is one request body for POST /api/v1/ingest/{Source}.
type Record struct {
	Source string
	Body   map[string]any
}

// Mix is the share of each source, summing to any positive number.
type Mix struct{ Hotline, Grid, Emergency, Traffic float64 }

// DefaultMix is a weekday's proportion of reports.
var DefaultMix = Mix{Hotline: 4, Grid: 3, Emergency: 1, Traffic: 2}

// Generator produces records. It is not safe for concurrent use.
type Generator struct {
	city   *gis.City
	r      *rand.Rand
	mix    Mix
	run    string
	n      int
	grids  []gis.Unit
	busy   int // index in grids of the demo worker's cell, -1 if the city has none
	towns  []gis.Unit
	roads  []gis.Road
	sensor []gis.Resource
	recent []Record // for repeated reports of the same problem
}

// New returns a generator with a seed; run distinguishes the references of
// one simulator run from another's (so two runs are not duplicates).
func New(city *gis.City, seed uint64, mix Mix, run string) *Generator {
	g := &Generator{city: city, r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), mix: mix, run: run}
	g.grids = city.Units(gis.LevelGrid)
	g.busy = slices.IndexFunc(g.grids, func(u gis.Unit) bool { return u.Code == demoWorkerGrid })
	g.towns = city.Units(gis.LevelTown)
	g.roads = city.Roads()
	g.sensor = append(city.Resources("smoke_sensor"), city.Resources("water_sensor")...)
	return g
}

var (
	appealTypes = []string{"投诉", "投诉", "求助", "咨询", "举报", "建议"}
	hotlineCats = []struct{ cat, text string }{
		{"噪声扰民", "晚上十点以后还在施工，噪音很大，影响休息"},
		{"垃圾堆放", "小区门口垃圾堆了好几天没人清运，气味很大"},
		{"占道经营", "路边流动摊贩占道经营，影响通行"},
		{"违章停车", "车辆长期占用消防通道停放"},
		{"停水", "家里突然停水，没有提前通知"},
		{"路灯不亮", "路灯不亮已经一周了，晚上走路不安全"},
		{"井盖缺失", "人行道上井盖缺失，很危险"},
		{"拖欠工资", "工地拖欠农民工工资三个月"},
		{"油烟污染", "楼下饭店油烟直排，窗户都不敢开"},
		{"政策咨询", "咨询新生儿医保办理流程"},
	}
	gridCats = []struct{ cat, text string }{
		{"占道经营", "店外经营，占用人行道"},
		{"暴露垃圾", "路边暴露垃圾，需要清运"},
		{"井盖破损", "井盖破损，已设置临时警示"},
		{"违章搭建", "居民楼顶违章搭建"},
		{"非法小广告", "电线杆上张贴大量小广告"},
		{"树木倒伏", "大风导致行道树倒伏"},
		{"安全隐患", "电动车楼道充电，存在火灾隐患"},
		{"护栏损坏", "道路护栏被撞损坏"},
	}
	alarmTypes = []struct{ typ, cat, text string }{
		{"smoke", "烟感报警", "独立式烟感探测器报警"},
		{"119", "火灾", "群众报警：发现明火，有浓烟"},
		{"120", "急救", "老人在家中摔倒，需要急救"},
		{"110", "治安", "有人在路边打架斗殴"},
		{"water_level", "水位超警", "低洼处积水水位超过警戒值"},
		{"gas", "燃气报警", "可燃气体探测器报警"},
	}
	trafficTypes = []struct{ typ, text string }{
		{"congestion", "车流缓行，排队约500米"},
		{"congestion", "早高峰拥堵"},
		{"accident", "两车追尾，占用一条车道"},
		{"closure", "道路施工，半幅封闭"},
		{"signal", "路口信号灯故障，全红闪烁"},
	}
)

// Next returns the next record, stamped with now.
func (g *Generator) Next(now time.Time) Record {
	g.n++
	// About one report in eight repeats a recent one from another source
	// or caller: the same problem reported again.
	if len(g.recent) > 0 && g.r.IntN(8) == 0 {
		if rec, ok := g.repeat(now); ok {
			return rec
		}
	}
	total := g.mix.Hotline + g.mix.Grid + g.mix.Emergency + g.mix.Traffic
	x := g.r.Float64() * total
	var rec Record
	switch {
	case x < g.mix.Hotline:
		rec = g.hotline(now)
	case x < g.mix.Hotline+g.mix.Grid:
		rec = g.grid(now)
	case x < g.mix.Hotline+g.mix.Grid+g.mix.Emergency:
		rec = g.emergency(now)
	default:
		rec = g.traffic(now)
	}
	g.recent = append(g.recent, rec)
	if len(g.recent) > 50 {
		g.recent = g.recent[1:]
	}
	return rec
}

func (g *Generator) ref(prefix string, now time.Time) string {
	return fmt.Sprintf("%s%s%s%06d", prefix, now.Format("20060102"), g.run, g.n)
}

// busyShare: one report in busyShare falls in the demo worker's cell (a
// busy market street, say), so that his phone — the one a visitor opens —
// has work to show after a minute; the rest spread evenly over the cells
// (one in several hundred each).
const busyShare = 25

func (g *Generator) randomGrid() (gis.Unit, orb.Point) {
	if g.busy >= 0 && g.r.IntN(busyShare) == 0 {
		u := g.grids[g.busy]
		if p, ok := g.city.RandomPointIn(u.Code, g.r); ok {
			return u, p
		}
	}
	for range 10 {
		u := g.grids[g.r.IntN(len(g.grids))]
		if p, ok := g.city.RandomPointIn(u.Code, g.r); ok {
			return u, p
		}
	}
	b := g.city.Bounds()
	return gis.Unit{}, b.Center()
}

func (g *Generator) address(p orb.Point) string {
	place, err := g.city.Locate(p)
	if err != nil {
		return ""
	}
	road := ""
	if len(g.roads) > 0 {
		road = g.roads[g.r.IntN(len(g.roads))].Name
	}
	return fmt.Sprintf("泰州市姜堰区%s%s%s%d号", place.Town.Name, place.Village.Name, road, 1+g.r.IntN(200))
}

func (g *Generator) hotline(now time.Time) Record {
	_, p := g.randomGrid()
	c := hotlineCats[g.r.IntN(len(hotlineCats))]
	body := map[string]any{
		"ticket_no":    g.ref("GD", now),
		"call_time":    now.Format("2006-01-02 15:04:05"),
		"appeal_type":  appealTypes[g.r.IntN(len(appealTypes))],
		"category":     c.cat,
		"content":      c.text,
		"address":      g.address(p),
		"caller_name":  []string{"张先生", "李女士", "王先生", "陈女士", "刘先生"}[g.r.IntN(5)],
		"caller_phone": fmt.Sprintf("1%d%09d", 3+g.r.IntN(7), g.r.IntN(1_000_000_000)),
		"channel":      []string{"电话", "电话", "网站", "APP", "微信"}[g.r.IntN(5)],
	}
	// Web and app channels often carry a map pick from 高德 (GCJ-02).
	if body["channel"] != "电话" || g.r.IntN(3) == 0 {
		if q, ok := g.gcj(p); ok {
			body["lon"], body["lat"], body["crs"] = q[0], q[1], "gcj02"
		}
	}
	return Record{Source: "hotline", Body: body}
}

func (g *Generator) grid(now time.Time) Record {
	u, p := g.randomGrid()
	c := gridCats[g.r.IntN(len(gridCats))]
	return Record{Source: "grid", Body: map[string]any{
		"report_id":   g.ref("WG", now),
		"worker_id":   gridWorker(u.Code), // the cell's own 网格员 reports what they find on patrol
		"grid_code":   u.Code,
		"category":    c.cat,
		"description": c.text,
		"lon":         round6(p[0]), "lat": round6(p[1]), "crs": "wgs84",
		"photos":      []string{fmt.Sprintf("photos/%s/%d.jpg", now.Format("20060102"), g.n)},
		"reported_at": now.Format(time.RFC3339),
	}}
}

func (g *Generator) emergency(now time.Time) Record {
	a := alarmTypes[g.r.IntN(len(alarmTypes))]
	var p orb.Point
	device := ""
	if (a.typ == "smoke" || a.typ == "water_level" || a.typ == "gas") && len(g.sensor) > 0 {
		s := g.sensor[g.r.IntN(len(g.sensor))]
		p, device = s.Point, s.ID
	} else {
		_, p = g.randomGrid()
	}
	p, ok := g.wgs(p)
	for i := 0; !ok && i < 10; i++ { // a sensor or a point right at the boundary
		_, p = g.randomGrid()
		p, ok = g.wgs(p)
		device = ""
	}
	level := 4 - g.r.IntN(2)
	if g.r.IntN(40) == 0 {
		level = 2
	}
	body := map[string]any{
		"alarm_id": g.ref("JJ", now), "alarm_type": a.typ, "category": a.cat, "level": level,
		"description": a.text, "lon": p[0], "lat": p[1], "crs": "wgs84",
		"occurred_at": now.Format(time.RFC3339), "address": g.address(p),
	}
	if device != "" {
		body["device_id"] = device
	}
	return Record{Source: "emergency", Body: body}
}

func (g *Generator) traffic(now time.Time) Record {
	t := trafficTypes[g.r.IntN(len(trafficTypes))]
	var p orb.Point
	road := ""
	if len(g.roads) > 0 {
		rd := g.roads[g.r.IntN(len(g.roads))]
		road = rd.Name
		if n := len(rd.Line); n > 1 {
			i := g.r.IntN(n - 1)
			f := g.r.Float64()
			a, b := rd.Line[i], rd.Line[i+1]
			p = orb.Point{a[0] + f*(b[0]-a[0]), a[1] + f*(b[1]-a[1])}
		}
	}
	if p == (orb.Point{}) {
		_, p = g.randomGrid()
	}
	p, ok := g.wgs(p)
	for i := 0; !ok && i < 10; i++ {
		_, p = g.randomGrid()
		p, ok = g.wgs(p)
	}
	return Record{Source: "traffic", Body: map[string]any{
		"event_id": g.ref("JT", now), "event_type": t.typ, "road": road, "description": road + t.text,
		"lon": p[0], "lat": p[1], "crs": "wgs84", "speed_kmh": float64(5 + g.r.IntN(40)),
		"occurred_at": now.Format(time.RFC3339),
	}}
}

// repeat re-reports a recent problem as a hotline call from someone else.
func (g *Generator) repeat(now time.Time) (Record, bool) {
	prev := g.recent[g.r.IntN(len(g.recent))]
	lon, ok1 := prev.Body["lon"].(float64)
	lat, ok2 := prev.Body["lat"].(float64)
	cat, _ := prev.Body["category"].(string)
	if !ok1 || !ok2 || cat == "" {
		return Record{}, false
	}
	p := orb.Point{lon, lat}
	if prev.Body["crs"] == "gcj02" {
		p = crs.ToWGS84(p, crs.GCJ02)
	}
	if j := (orb.Point{p[0] + (g.r.Float64()-0.5)*0.0006, p[1] + (g.r.Float64()-0.5)*0.0006}); g.inside(j) {
		p = j // within ~30 m
	}
	q, ok := g.gcj(p)
	if !ok {
		return Record{}, false
	}
	return Record{Source: "hotline", Body: map[string]any{
		"ticket_no": g.ref("GD", now), "call_time": now.Format("2006-01-02 15:04:05"),
		"appeal_type": "投诉", "category": cat, "content": "同一问题再次反映：" + fmt.Sprint(prev.Body["description"], prev.Body["content"]),
		"address": g.address(p), "caller_phone": fmt.Sprintf("139%08d", g.r.IntN(100_000_000)),
		"lon": q[0], "lat": q[1], "crs": "gcj02", "channel": "APP",
	}}, true
}

// gcj returns p as a 高德 pick (GCJ-02, 6 decimals) if that still lands
// inside the city after the server converts it back; points right at the
// boundary may not.
func (g *Generator) gcj(p orb.Point) (orb.Point, bool) {
	q := crs.FromWGS84(p, crs.GCJ02)
	q = orb.Point{round6(q[0]), round6(q[1])}
	return q, g.inside(crs.ToWGS84(q, crs.GCJ02))
}

// wgs returns p as it is sent (WGS-84, 6 decimals) if that still lands
// inside the city: rounding moves a point by up to ~5 cm, and one right at
// the boundary can fall outside (the server refuses it: 422, and the load
// generator would count a refusal).
func (g *Generator) wgs(p orb.Point) (orb.Point, bool) {
	q := orb.Point{round6(p[0]), round6(p[1])}
	return q, g.inside(q)
}

func (g *Generator) inside(p orb.Point) bool {
	_, err := g.city.Locate(p)
	return err == nil
}

func round6(x float64) float64 { return float64(int64(x*1e6+0.5)) / 1e6 }
