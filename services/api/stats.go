package api

import (
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/citybrain-ioc/citybrain/services/kpi"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// caseCache keeps the loaded cases while the projection has not changed:
// the wall and many consoles ask for KPIs all the time. The change token is
// the id of the newest entry of the realtime delta stream, which every
// projection change appends to.
type caseCache struct {
	mu    sync.Mutex
	at    time.Time
	token string
	cases []kpi.Case
	rows  *redisstore.CaseCache[kpi.Case] // rereads only the cases that changed
}

func (a *API) cases(ctx context.Context) ([]kpi.Case, error) {
	a.cache.mu.Lock()
	defer a.cache.mu.Unlock()
	token, err := a.store.StreamTop(ctx)
	if err != nil {
		return nil, err
	}
	if token == a.cache.token && time.Since(a.cache.at) < time.Minute {
		return a.cache.cases, nil
	}
	out, err := a.cache.rows.Load(ctx)
	if err != nil {
		return nil, err
	}
	a.cache.cases, a.cache.at, a.cache.token = out, time.Now(), token
	return out, nil
}

// kpis answers GET /api/v1/stats/kpi?by=town|department|worker.
func (a *API) kpis(c *fiber.Ctx) error {
	if _, err := a.caller(c, true); err != nil {
		return err
	}
	dim := kpi.Dimension(c.Query("by"))
	switch dim {
	case "", kpi.ByTown, kpi.ByDepartment, kpi.ByWorker:
	default:
		return bad(c, fiber.StatusBadRequest, "by", "want town, department or worker")
	}
	cases, err := a.cases(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(kpi.Compute(cases, dim, time.Now()))
}

// Bucket is one period of a trend.
type Bucket struct {
	Start    time.Time `json:"start"`
	Reported int       `json:"reported"` // incidents first seen in the period
	Closed   int       `json:"closed"`   // incidents closed in the period
}

// trend answers GET /api/v1/stats/trend?window=24h|30d: incidents reported
// and closed per hour (24h) or per local day (30d).
func (a *API) trend(c *fiber.Ctx) error {
	if _, err := a.caller(c, true); err != nil {
		return err
	}
	now := time.Now().In(a.loc)
	var step time.Duration
	var start time.Time
	n := 0
	switch c.Query("window", "24h") {
	case "24h":
		step, n = time.Hour, 24
		start = now.Truncate(time.Hour).Add(-23 * time.Hour)
	case "30d":
		step, n = 24*time.Hour, 30
		y, m, d := now.Date()
		start = time.Date(y, m, d, 0, 0, 0, 0, a.loc).AddDate(0, 0, -29)
	default:
		return bad(c, fiber.StatusBadRequest, "window", "want 24h or 30d")
	}
	cases, err := a.cases(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]Bucket, n)
	for i := range out {
		if step == time.Hour {
			out[i].Start = start.Add(time.Duration(i) * step)
		} else {
			out[i].Start = start.AddDate(0, 0, i)
		}
	}
	index := func(t time.Time) int {
		if t.IsZero() || t.Before(start) {
			return -1
		}
		if step == time.Hour {
			return int(t.Sub(start) / step)
		}
		t = t.In(a.loc)
		return int(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, a.loc).Sub(start).Hours()+12) / 24
	}
	for _, cs := range cases {
		if i := index(cs.Incident.FirstSeen); i >= 0 && i < n {
			out[i].Reported++
		}
		if i := index(cs.State.ClosedAt); i >= 0 && i < n {
			out[i].Closed++
		}
	}
	return c.JSON(fiber.Map{"window": c.Query("window", "24h"), "buckets": out})
}
