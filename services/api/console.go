package api

// The dispatcher console's own read: where the workers on duty are around
// an incident, for the console's map (the suggestions give names and
// distances, not positions).

import (
	"math"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/event"
)

// workerSpot is a worker's last known position as the console map shows it.
type workerSpot struct {
	ID         string  `json:"id"`
	Name       string  `json:"name,omitempty"`
	Department string  `json:"department,omitempty"`
	Lon        float64 `json:"lon"`
	Lat        float64 `json:"lat"`
	OnDuty     bool    `json:"on_duty"`
	At         string  `json:"at"`
	DistanceM  float64 `json:"distance_m"`
}

// consoleWorkers answers the workers with a live position within radius_m
// (default 3 km, at most 20 km) of lon/lat, nearest first, at most 100.
// Dispatchers and admins only: positions are personal data.
func (a *API) consoleWorkers(c *fiber.Ctx) error {
	cl, err := a.caller(c, false)
	if err != nil {
		return err
	}
	if cl.Role != auth.Dispatcher && cl.Role != auth.Admin {
		return fiber.NewError(fiber.StatusForbidden, "worker positions are for dispatchers")
	}
	lon, errLon := strconv.ParseFloat(c.Query("lon"), 64)
	lat, errLat := strconv.ParseFloat(c.Query("lat"), 64)
	if errLon != nil || errLat != nil || !(event.Point{Lon: lon, Lat: lat}).Valid() {
		return bad(c, fiber.StatusBadRequest, "lon", "want lon and lat: finite WGS-84 degrees in range")
	}
	radius := 3000.0
	if v := c.Query("radius_m"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(r) || r < 1 || r > 20000 {
			return bad(c, fiber.StatusBadRequest, "radius_m", "want metres, 1 … 20000")
		}
		radius = r
	}
	near, err := a.store.WorkersNear(c.UserContext(), lon, lat, radius, 100)
	if err != nil {
		return err
	}
	out := make([]workerSpot, 0, len(near))
	for _, w := range near {
		out = append(out, workerSpot{ID: w.ID, Name: w.Name, Department: w.Department, Lon: w.Lon, Lat: w.Lat, OnDuty: w.OnDuty,
			At: w.At.UTC().Format("2006-01-02T15:04:05Z07:00"), DistanceM: math.Round(w.DistanceM)})
	}
	return c.JSON(fiber.Map{"items": out})
}
