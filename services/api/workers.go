package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/paulmach/orb"
	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/gis/crs"
	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// position records the caller's (a worker's) position and duty status:
// the latest one only, kept WorkerTTL, published to the compacted workers
// topic keyed by worker id.
func (a *API) position(c *fiber.Ctx) error {
	cl, err := a.caller(c, false)
	if err != nil {
		return err
	}
	if cl.Role != auth.Worker {
		return fiber.NewError(fiber.StatusForbidden, "only a worker reports a position")
	}
	var in struct {
		Lon, Lat float64
		CRS      string `json:"crs"`
		OnDuty   *bool  `json:"on_duty"`
	}
	if err := json.Unmarshal(c.Body(), &in); err != nil {
		return bad(c, fiber.StatusBadRequest, "body", "want JSON {lon, lat, crs, on_duty}")
	}
	sys, err := crs.Parse(in.CRS)
	if err != nil {
		return bad(c, fiber.StatusUnprocessableEntity, "crs", err.Error())
	}
	if !(event.Point{Lon: in.Lon, Lat: in.Lat}).Valid() {
		return bad(c, fiber.StatusUnprocessableEntity, "lon", "coordinates must be finite and in range")
	}
	p := crs.ToWGS84(orb.Point{in.Lon, in.Lat}, sys)
	place, err := a.city.Locate(p)
	if errors.Is(err, gis.ErrOutside) {
		return bad(c, fiber.StatusUnprocessableEntity, "lon", "outside the service area")
	}
	w := redisstore.WorkerPos{ID: cl.Subject, Name: cl.Name, Department: cl.Department, Town: place.Town.Code, Lon: p[0], Lat: p[1], OnDuty: in.OnDuty == nil || *in.OnDuty, At: time.Now().UTC()}
	b, _ := json.Marshal(w)
	if err := a.pub.Publish(c.UserContext(), kafka.Message{Topic: a.topics.Workers(), Key: []byte(w.ID), Value: b}); err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "position not stored, retry")
	}
	if err := a.store.PutWorker(c.UserContext(), w); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"ok": true})
}

// Suggestion is a worker proposed for a task, with the reason.
type Suggestion struct {
	WorkerID   string  `json:"worker_id"`
	Name       string  `json:"name,omitempty"`
	Department string  `json:"department,omitempty"`
	DistanceM  float64 `json:"distance_m"`
	OpenTasks  int     `json:"open_tasks"`
	Reason     string  `json:"reason"`
}

// suggestions proposes workers for a task: on duty, near the incident
// (within 5 km), of the routed department first, then fewest open tasks,
// then nearest.
func (a *API) suggestions(c *fiber.Ctx) error {
	cl, err := a.caller(c, false)
	if err != nil {
		return err
	}
	if cl.Role != auth.Dispatcher && cl.Role != auth.Admin {
		return fiber.NewError(fiber.StatusForbidden, "suggestions are for dispatchers")
	}
	ctx := c.UserContext()
	inc, err := a.store.Incident(ctx, incidentIDOf(c.Params("id")))
	if errors.Is(err, redisstore.ErrNotFound) || (err == nil && !mayAccess(cl, inc)) {
		return bad(c, fiber.StatusNotFound, "id", "no task "+c.Params("id")+" for you")
	}
	if err != nil {
		return err
	}
	if inc.Location == nil {
		return c.JSON(fiber.Map{"items": []Suggestion{}, "note": "the incident has no location"})
	}
	dept := a.rules().Decide(event.Event{Source: inc.Source, Category: inc.Category, Severity: inc.Severity, Place: inc.Place}).Department
	near, err := a.store.WorkersNear(ctx, inc.Location.Lon, inc.Location.Lat, 5000, 50)
	if err != nil {
		return err
	}
	cases, err := a.cases(ctx)
	if err != nil {
		return err
	}
	load := map[string]int{}
	for _, cs := range cases {
		if t := cs.Incident.Task; t != nil && t.WorkerID != "" && cs.Incident.State.Open() {
			load[t.WorkerID]++
		}
	}
	out := []Suggestion{}
	for _, w := range near {
		if !w.OnDuty {
			continue
		}
		s := Suggestion{WorkerID: w.ID, Name: w.Name, Department: w.Department, DistanceM: math.Round(w.DistanceM), OpenTasks: load[w.ID]}
		same := "其他部门"
		if w.Department == dept {
			same = "同部门"
		}
		s.Reason = fmt.Sprintf("%s（%s），距离 %.0f 米，在办 %d 件", same, w.Department, s.DistanceM, s.OpenTasks)
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := out[i].Department == dept, out[j].Department == dept
		if si != sj {
			return si
		}
		if out[i].OpenTasks != out[j].OpenTasks {
			return out[i].OpenTasks < out[j].OpenTasks
		}
		return out[i].DistanceM < out[j].DistanceM
	})
	if len(out) > 5 {
		out = out[:5]
	}
	return c.JSON(fiber.Map{"department": dept, "items": out})
}
