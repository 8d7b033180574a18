package ingest

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/enrich"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/intake"
)

// handleCAP accepts one CAP 1.2 alert (POST /api/v1/ingest/cap). Only
// Actual and Exercise alerts that touch the service area, or Updates and
// Cancels of alerts received here, are accepted; everything else is refused
// with the reason.
func (s *Service) handleCAP(c *fiber.Ctx) error {
	const src = "cap"
	ct := strings.ToLower(string(c.Request().Header.ContentType()))
	if ct != "" && !strings.Contains(ct, "xml") {
		return s.refuse(c, src, fiber.StatusUnsupportedMediaType, intake.Errors{{Field: "Content-Type", Reason: "want application/cap+xml or application/xml, got " + ct}})
	}
	body := c.Body()
	alert, err := intake.ParseCAP(body)
	if err != nil {
		status := fiber.StatusUnprocessableEntity
		if fe, ok := err.(intake.Errors); ok && len(fe) > 0 && fe[0].Field == "body" {
			status = fiber.StatusBadRequest
		}
		return s.refuse(c, src, status, err)
	}
	switch {
	case alert.Status != "Actual" && alert.Status != "Exercise":
		return s.refuse(c, src, fiber.StatusUnprocessableEntity, intake.Errors{{Field: "status", Reason: alert.Status + ": only Actual and Exercise alerts create incidents"}})
	case alert.MsgType == "Ack" || alert.MsgType == "Error":
		return s.refuse(c, src, fiber.StatusUnprocessableEntity, intake.Errors{{Field: "msgType", Reason: alert.MsgType + " carries no alert to act on"}})
	}
	now := time.Now()
	r := intake.CAPReport(alert, now)
	ctx := c.UserContext()
	if r.Area != nil || len(r.AreaCodes) > 0 {
		if !enrich.PlaceArea(s.city, &r) {
			return s.refuse(c, src, fiber.StatusUnprocessableEntity, intake.Errors{{Field: "area", Reason: "no area of this alert is inside the service area"}})
		}
	} else {
		known := false
		for _, ref := range r.References {
			if seen, err := s.marks.Seen(ctx, "ingest", ref); err == nil && seen {
				known = true
			}
		}
		if !known {
			return s.refuse(c, src, fiber.StatusUnprocessableEntity, intake.Errors{{Field: "area", Reason: "the alert has no area and references no alert received here"}})
		}
	}
	out := Accepted{ID: r.ID, SourceRef: r.SourceRef}
	dup, err := s.marks.Seen(ctx, "ingest", r.ID)
	if err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "idempotency store unavailable, retry")
	}
	if dup {
		out.Duplicate = true
	} else {
		raw, _ := json.Marshal(event.Raw{Schema: event.Schema, ID: r.ID, Source: event.Emergency, SourceRef: r.SourceRef,
			ReceivedAt: now.UTC(), ContentType: intake.CAPContentType, Text: string(body)})
		if err := s.pub.Publish(ctx, kafka.Message{Topic: s.topics.Raw(string(event.Emergency)), Key: []byte(r.ID), Value: raw}); err != nil {
			s.log.Error("ingest publish failed", "source", src, "err", err)
			return fiber.NewError(fiber.StatusServiceUnavailable, "not stored, retry: the event bus did not acknowledge")
		}
		_, _ = s.marks.MarkSeen(ctx, "ingest", r.ID, acceptTTL)
	}
	s.accepted.WithLabelValues(src).Inc()
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"accepted": []Accepted{out}, "affected_grids": len(r.AffectedGrids)})
}
