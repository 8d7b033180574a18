package realtime

import (
	"context"
	"sync"
	"time"

	"github.com/citybrain-ioc/citybrain/services/kpi"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// kpiEvery bounds how often the gateway recomputes the KPIs of the stats
// message (a scan of the newest kpi.Window cases): the headline counters
// go out every second, the KPIs are at most this old.
const kpiEvery = 10 * time.Second

// wallStats is the data of a stats message and of the wall snapshot's
// stats: the headline counters and the overall KPIs the wall's tiles show
// (按时办结率, 满意率, overdue, mean time to dispatch…), the same figures as
// GET /api/v1/stats/kpi's "overall".
type wallStats struct {
	redisstore.Stats
	KPI *kpi.KPI `json:"kpi,omitempty"`
}

type kpiCache struct {
	mu    sync.Mutex
	at    time.Time
	kpi   *kpi.KPI
	cases *redisstore.CaseCache[kpi.Case] // the window, reread only where it changed
}

// statsJSON reads the counters and adds the (cached) KPIs.
func (g *Gateway) statsJSON(ctx context.Context, now time.Time) (string, error) {
	st, err := g.store.Stats(ctx, now)
	if err != nil {
		return "", err
	}
	return string(mustJSON(wallStats{Stats: st, KPI: g.kpis(ctx, now)})), nil
}

// kpis returns the overall KPIs, recomputed when older than kpiEvery; nil
// when they cannot be read (the counters still go out).
func (g *Gateway) kpis(ctx context.Context, now time.Time) *kpi.KPI {
	g.kpi.mu.Lock()
	defer g.kpi.mu.Unlock()
	if g.kpi.kpi != nil && now.Sub(g.kpi.at) < kpiEvery {
		return g.kpi.kpi
	}
	cases, err := g.kpi.cases.Load(ctx)
	if err != nil {
		return g.kpi.kpi
	}
	k := kpi.Compute(cases, "", now).Overall
	g.kpi.kpi, g.kpi.at = &k, now
	return g.kpi.kpi
}
