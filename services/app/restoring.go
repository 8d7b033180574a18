package app

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/citybrain-ioc/citybrain/services/api"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// restoring tells whether the projections are being rebuilt from Kafka (a
// start with no usable snapshot, or a cluster's Redis lost and a
// dispatcher replaying the tasks topic into it), asking the store at most
// once per restoringRecheck: every API request passes through it.
type restoring struct {
	store *redisstore.Store
	mu    sync.Mutex
	at    time.Time // when the store was last asked; zero: never
	busy  bool
	prog  *redisstore.RebuildProgress
}

// restoringRecheck is how long an answer of the store serves.
const restoringRecheck = time.Second

// state reports whether a rebuild is under way or due, with its progress
// when the rebuilder recorded one. A store that cannot be asked is taken as
// built: the request goes on and fails, or not, on its own.
func (r *restoring) state(ctx context.Context) (bool, *redisstore.RebuildProgress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < restoringRecheck {
		return r.busy, r.prog
	}
	busy, prog, err := r.store.Restoring(ctx)
	if err != nil {
		return false, nil
	}
	r.at, r.busy, r.prog = time.Now(), busy, prog
	return busy, prog
}

// err is nil when the projections are built, else why what reads them
// must wait, with the rebuild's progress.
func (r *restoring) err(ctx context.Context) *restoringError {
	busy, prog := r.state(ctx)
	if !busy {
		return nil
	}
	return &restoringError{prog}
}

// hold is err as an error (nil when built): what holds back a reader
// that answers in its own format (Open311).
func (r *restoring) hold(ctx context.Context) error {
	if e := r.err(ctx); e != nil {
		return e
	}
	return nil
}

// restoringError says the projections are being rebuilt.
type restoringError struct{ progress *redisstore.RebuildProgress }

func (e *restoringError) Error() string {
	msg := "the situation is being restored from the event log after a restart"
	if p := e.progress; p != nil {
		msg += ": " + p.String()
	}
	return msg + ": retry in a few seconds (reports are accepted meanwhile)"
}

// restoringRetryAfter is the Retry-After of a 503 while restoring.
const restoringRetryAfter = "2"

// whileRebuilding answers 503, with the reason, the rebuild's progress and
// a Retry-After, to the API's reads and commands while the projections are
// being rebuilt: what they would answer is incomplete, and a command would
// be decided on a partial case. Intake, logins, the categories, the map's
// layers, the phones' positions and photos go on: none of them reads the
// projections. The UI shows the progress ("恢复中") instead of an error.
func (r *restoring) whileRebuilding() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if readsNoProjection(c.Method(), c.Path()) {
			return c.Next()
		}
		e := r.err(c.UserContext())
		if e == nil {
			return c.Next()
		}
		c.Set(fiber.HeaderRetryAfter, restoringRetryAfter)
		return c.Status(fiber.StatusServiceUnavailable).JSON(api.Problem{Error: e.Error(), Code: api.CodeRestoring, Progress: e.progress})
	}
}

// readsNoProjection: the API requests whileRebuilding lets through.
func readsNoProjection(method, path string) bool {
	for _, p := range []string{"/api/v1/ingest/", "/api/v1/gis/", "/api/v1/media"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	switch path {
	case "/api/v1/categories", "/api/v1/auth/info", "/api/v1/auth/login", "/api/v1/openapi.json":
		return true
	case "/api/v1/workers/position":
		return method == fiber.MethodPost
	}
	return false
}

// restoringCollector exports whether the projections are being rebuilt,
// and how far, read from the store at every scrape (one round trip): the
// rebuilder and every process answering 503 meanwhile show the same.
type restoringCollector struct {
	store             *redisstore.Store
	busy, done, total *prometheus.Desc
}

func newRestoringCollector(store *redisstore.Store) *restoringCollector {
	return &restoringCollector{
		store: store,
		busy: prometheus.NewDesc("citybrain_projections_restoring",
			"1 while the projections are being rebuilt from Kafka (the API's reads answer 503 restoring), else 0.", nil, nil),
		done: prometheus.NewDesc("citybrain_rebuild_records_replayed",
			"Records of the tasks topic the running rebuild has replayed (0 when none runs).", nil, nil),
		total: prometheus.NewDesc("citybrain_rebuild_records_to_replay",
			"Records of the tasks topic the running rebuild replays in all (0 when none runs or it has not said yet).", nil, nil),
	}
}

func (c *restoringCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.busy
	ch <- c.done
	ch <- c.total
}

// Collect sends nothing when the store cannot be asked: an absent series
// is unknown, where 0 would say "not restoring".
func (c *restoringCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	busy, prog, err := c.store.Restoring(ctx)
	if err != nil {
		return
	}
	var b, done, total float64
	if busy {
		b = 1
	}
	if prog != nil {
		done, total = float64(prog.Done), float64(prog.Total)
	}
	ch <- prometheus.MustNewConstMetric(c.busy, prometheus.GaugeValue, b)
	ch <- prometheus.MustNewConstMetric(c.done, prometheus.GaugeValue, done)
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, total)
}
