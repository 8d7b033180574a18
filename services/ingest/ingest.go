// Package ingest is the intake HTTP service: POST /api/v1/ingest/{source}
// validates each record (package intake), refuses bad input with a 4xx that
// names the field and the reason, and answers 202 with the event ids only
// after Kafka has acknowledged the raw records. The id is derived from the
// source's own reference, so a ticket sent twice is one event.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/services/enrich"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/intake"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
)

// MaxItems is the largest array accepted in one request.
const MaxItems = 500

// Locator is what ingest needs of the GIS: is a point, or a warning area,
// in the service area?
type Locator = enrich.AreaPlaces

// Marks records which ids were already accepted (idempotency).
type Marks interface {
	Seen(ctx context.Context, kind, id string) (bool, error)
	MarkSeen(ctx context.Context, kind, id string, ttl time.Duration) (bool, error)
	// SeenAll and MarkSeenAll do the same for an array's reports in one
	// round trip each.
	SeenAll(ctx context.Context, kind string, ids []string) ([]bool, error)
	MarkSeenAll(ctx context.Context, kind string, ids []string, ttl time.Duration) error
}

// Publisher publishes records; kafkabus.Producer is one.
type Publisher interface {
	Publish(ctx context.Context, msgs ...kafka.Message) error
}

// Service is the intake endpoint.
type Service struct {
	pub      Publisher
	topics   kafkabus.Topics
	marks    Marks
	city     Locator
	loc      *time.Location
	log      *slog.Logger
	accepted *prometheus.CounterVec
	rejected *prometheus.CounterVec
	latency  prometheus.Histogram
}

// New returns the intake service.
func New(pub Publisher, topics kafkabus.Topics, marks Marks, city Locator, loc *time.Location, reg prometheus.Registerer, log *slog.Logger) *Service {
	s := &Service{pub: pub, topics: topics, marks: marks, city: city, loc: loc, log: log,
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "citybrain_ingest_accepted_total", Help: "Records accepted, by source (duplicates included)."}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "citybrain_ingest_rejected_total", Help: "Requests refused, by source and status."}, []string{"source", "status"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "citybrain_ingest_ack_seconds", Help: "Request receipt to Kafka acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	reg.MustRegister(s.accepted, s.rejected, s.latency)
	return s
}

// Register adds the routes to r.
func (s *Service) Register(r fiber.Router) {
	r.Post("/api/v1/ingest/cap", s.handleCAP)
	r.Post("/api/v1/ingest/:source", s.handleJSON)
}

// Accepted is one record of a 202 answer.
type Accepted struct {
	ID        string `json:"id"`
	SourceRef string `json:"source_ref"`
	Duplicate bool   `json:"duplicate"`
}

// acceptTTL outlives raw retention (7 days): a resend within it is known.
const acceptTTL = 8 * 24 * time.Hour

func (s *Service) handleJSON(c *fiber.Ctx) error {
	start := time.Now()
	src, err := event.ParseSource(c.Params("source"))
	if err != nil {
		return s.refuse(c, "unknown", fiber.StatusNotFound, intake.Errors{{Field: "source", Reason: err.Error()}})
	}
	if ct := string(c.Request().Header.ContentType()); ct != "" && !isJSON(ct) {
		return s.refuse(c, string(src), fiber.StatusUnsupportedMediaType, intake.Errors{{Field: "Content-Type", Reason: "want application/json, got " + ct}})
	}
	items, err := intake.SplitArray(c.Body())
	if err != nil {
		return s.refuse(c, string(src), fiber.StatusBadRequest, err)
	}
	if len(items) > MaxItems {
		return s.refuse(c, string(src), fiber.StatusRequestEntityTooLarge, intake.Errors{{Field: "body", Reason: fmt.Sprintf("%d records, at most %d per request", len(items), MaxItems)}})
	}
	out, err := s.Accept(c.UserContext(), src, items)
	var fe intake.Errors
	switch {
	case errors.As(err, &fe):
		return s.refuse(c, string(src), fiber.StatusUnprocessableEntity, fe)
	case err != nil:
		return err
	}
	s.latency.Observe(time.Since(start).Seconds())
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"accepted": out})
}

// Accept validates the JSON items of one source and publishes them to
// raw.<source>, returning after Kafka acknowledged. Either every item is
// accepted or none: the error is intake.Errors (each with its index) for
// bad input, or a *fiber.Error 503 when nothing could be stored.
func (s *Service) Accept(ctx context.Context, src event.Source, items [][]byte) ([]Accepted, error) {
	now := time.Now()
	reports := make([]event.Event, len(items))
	var problems intake.Errors
	for i, it := range items {
		r, err := intake.Parse(src, it, now, s.loc)
		r.ID = event.EventID(src, r.SourceRef)
		var fe intake.Errors
		if errors.As(err, &fe) {
			for _, e := range fe {
				e.Index = i
				problems = append(problems, e)
			}
			continue
		}
		if r.Location != nil {
			if _, err := s.city.Locate(orb.Point{r.Location.Lon, r.Location.Lat}); errors.Is(err, gis.ErrOutside) {
				problems = append(problems, intake.FieldError{Index: i, Field: "lon", Reason: fmt.Sprintf(
					"(%.6f, %.6f) is outside the service area: lon/lat swapped, or the wrong crs?", r.Location.Lon, r.Location.Lat)})
				continue
			}
		}
		reports[i] = r
	}
	if len(problems) > 0 {
		return nil, problems
	}
	out := make([]Accepted, len(reports))
	ids := make([]string, len(reports))
	for i, r := range reports {
		ids[i] = r.ID
	}
	seen, err := s.marks.SeenAll(ctx, "ingest", ids)
	if err != nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "idempotency store unavailable, retry")
	}
	var msgs []kafka.Message
	var fresh []string
	for i, r := range reports {
		out[i] = Accepted{ID: r.ID, SourceRef: r.SourceRef}
		if seen[i] {
			out[i].Duplicate = true
			continue
		}
		raw, _ := json.Marshal(event.Raw{Schema: event.Schema, ID: r.ID, Source: src, SourceRef: r.SourceRef,
			ReceivedAt: now.UTC(), ContentType: "application/json", Body: items[i]})
		msgs = append(msgs, kafka.Message{Topic: s.topics.Raw(string(src)), Key: []byte(r.ID), Value: raw})
		fresh = append(fresh, r.ID)
	}
	if len(msgs) > 0 {
		if err := s.pub.Publish(ctx, msgs...); err != nil {
			s.log.Error("ingest publish failed", "source", src, "records", len(msgs), "err", err)
			return nil, fiber.NewError(fiber.StatusServiceUnavailable, "not stored, retry: the event bus did not acknowledge")
		}
		_ = s.marks.MarkSeenAll(ctx, "ingest", fresh, acceptTTL) // best effort: downstream dedupes too
	}
	s.accepted.WithLabelValues(string(src)).Add(float64(len(out)))
	return out, nil
}

func (s *Service) refuse(c *fiber.Ctx, src string, status int, err error) error {
	s.rejected.WithLabelValues(src, fmt.Sprint(status)).Inc()
	var fe intake.Errors
	if !errors.As(err, &fe) {
		fe = intake.Errors{{Field: "body", Reason: err.Error()}}
	}
	return c.Status(status).JSON(fiber.Map{"error": fe.Error(), "errors": fe})
}

func isJSON(ct string) bool {
	return len(ct) >= 16 && ct[:16] == "application/json"
}
