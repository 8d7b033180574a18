package api

import (
	"errors"
	"math"
	"sort"

	"github.com/gofiber/fiber/v2"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
)

// The situation of an incident (态势) is what the wall's command view shows
// around it: the nearest resources that matter for its category, the grid
// workers nearby, the inspection of each grid cell of a warning, and the
// audit trail.
//
// ETAs are straight-line distance × DetourFactor at a documented speed per
// kind: the sample city's road layer is schematic, so a road-network route
// would look exact without being so. 1.4 is the usual ratio of road to
// straight-line distance in a Chinese county town's grid of streets.
const DetourFactor = 1.4

// Speeds per kind (metres per second) of who comes from a resource: an
// engine or an ambulance in town traffic, a police car, people walking to a
// shelter, a grid worker on an e-bike. Sensors and cameras do not move: no
// ETA.
var Speeds = map[string]float64{
	"fire_station": 40 / 3.6,
	"hospital":     45 / 3.6,
	"police":       40 / 3.6,
	"shelter":      5 / 3.6,
	"worker":       15 / 3.6,
}

// resourceKinds are the kinds of resource that matter for a category
// family, most important first; the rest gets police and cameras.
var resourceKinds = map[string][]string{
	"fire":                {"fire_station", "hospital", "smoke_sensor", "camera"},
	"gas":                 {"fire_station", "hospital", "police"},
	"medical":             {"hospital", "police"},
	"public_security":     {"police", "camera"},
	"safety":              {"fire_station", "police", "hospital"},
	"traffic_accident":    {"police", "hospital", "fire_station", "camera"},
	"traffic_flow":        {"police", "camera"},
	"traffic_enforcement": {"police", "camera"},
	"water":               {"water_sensor", "shelter", "fire_station"},
	"weather":             {"shelter", "fire_station", "hospital", "water_sensor"},
	"utility_water":       {"water_sensor", "police"},
}

// perKind is how many of each kind are listed.
const perKind = 3

// SituationResource is a resource near an incident.
type SituationResource struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	Lon       float64  `json:"lon"`
	Lat       float64  `json:"lat"`
	DistanceM float64  `json:"distance_m"`
	EtaS      *float64 `json:"eta_s"` // null for what does not move (sensors, cameras)
}

// SituationWorker is a grid worker near an incident (or assigned to it).
type SituationWorker struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Lon       float64 `json:"lon"`
	Lat       float64 `json:"lat"`
	DistanceM float64 `json:"distance_m"`
	EtaS      float64 `json:"eta_s"`
	Assigned  bool    `json:"assigned"`
}

// SituationGrid is one grid cell of a warning and the state of its
// inspection.
type SituationGrid struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	State  string `json:"state"` // pending, done, cancelled
	Worker string `json:"worker"`
}

func eta(distanceM float64, kind string) *float64 {
	v, ok := Speeds[kind]
	if !ok {
		return nil
	}
	s := math.Round(distanceM * DetourFactor / v)
	return &s
}

// situation answers GET /api/v1/incidents/{id}/situation.
func (a *API) situation(c *fiber.Ctx) error {
	cl, err := a.caller(c, true)
	if err != nil {
		return err
	}
	mode, ok := timelineMode(c)
	if !ok {
		return badTimeline(c)
	}
	ctx := c.UserContext()
	id := c.Params("id")
	inc, err := a.store.Incident(ctx, id)
	if errors.Is(err, redisstore.ErrNotFound) {
		return bad(c, fiber.StatusNotFound, "id", "no incident "+id)
	}
	if err != nil {
		return err
	}
	tl, err := a.store.Timeline(ctx, id)
	if err != nil {
		return err
	}
	resources := []SituationResource{}
	workers := []SituationWorker{}
	if p := inc.Location; p != nil {
		resources = a.nearResources(inc, orb.Point{p.Lon, p.Lat})
		near, err := a.store.WorkersNear(ctx, p.Lon, p.Lat, 5000, 20)
		if err != nil {
			return err
		}
		assigned := ""
		if inc.Task != nil {
			assigned = inc.Task.WorkerID
		}
		seen := false
		for _, w := range near {
			d := math.Round(w.DistanceM)
			workers = append(workers, SituationWorker{ID: w.ID, Name: w.Name, Lon: w.Lon, Lat: w.Lat, DistanceM: d, EtaS: *eta(d, "worker"), Assigned: w.ID == assigned})
			seen = seen || w.ID == assigned
		}
		if assigned != "" && !seen {
			// The assigned worker is shown wherever they are (farther than
			// 5 km, or off duty), if their phone has reported lately.
			w, ok, err := a.store.Worker(ctx, assigned)
			if err != nil {
				return err
			}
			if ok {
				d := math.Round(geo.Distance(orb.Point{p.Lon, p.Lat}, orb.Point{w.Lon, w.Lat}))
				workers = append(workers, SituationWorker{ID: w.ID, Name: w.Name, Lon: w.Lon, Lat: w.Lat, DistanceM: d, EtaS: *eta(d, "worker"), Assigned: true})
			}
		}
	}
	grids := make([]SituationGrid, 0, len(inc.Inspections))
	for _, in := range inc.Inspections {
		g := SituationGrid{Code: in.Grid, State: in.State, Worker: in.By}
		if u, ok := a.city.Unit(in.Grid); ok {
			g.Name = u.Name
		}
		grids = append(grids, g)
	}
	return c.JSON(fiber.Map{"incident": inc, "resources": resources, "workers": workers, "grids": grids, "timeline": timelineFor(cl, tl, mode)})
}

// nearResources lists the nearest perKind resources of each kind that
// matters for the incident's category, nearest first within a kind, kinds
// in order of importance.
func (a *API) nearResources(inc event.Incident, p orb.Point) []SituationResource {
	family := ""
	if cat, err := taxonomy.Lookup(inc.Category); err == nil {
		family = cat.Family
	}
	kinds, ok := resourceKinds[family]
	if !ok {
		kinds = []string{"police", "camera"}
	}
	out := []SituationResource{}
	for _, k := range kinds {
		near := a.city.Nearest(p, k, perKind)
		sort.SliceStable(near, func(i, j int) bool { return near[i].DistanceM < near[j].DistanceM })
		for _, n := range near {
			d := math.Round(n.DistanceM)
			out = append(out, SituationResource{ID: n.ID, Kind: n.Kind, Name: n.Name, Lon: n.Point[0], Lat: n.Point[1], DistanceM: d, EtaS: eta(d, k)})
		}
	}
	return out
}
