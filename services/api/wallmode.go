package api

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/wallmode"
)

// getWallMode answers the wall's mode (normal or emergency/战时).
func (a *API) getWallMode(c *fiber.Ctx) error {
	if _, err := a.caller(c, true); err != nil {
		return err
	}
	m, err := a.store.GetWallMode(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(m)
}

// putWallMode is a person switching the wall's mode (dispatchers, admins).
// Emergency needs an existing incident; the change is recorded on the
// wallmode topic and relayed to every wall (delta kind "mode").
func (a *API) putWallMode(c *fiber.Ctx) error {
	cl, err := a.caller(c, false)
	if err != nil {
		return err
	}
	if cl.Role != auth.Dispatcher && cl.Role != auth.Admin {
		return fiber.NewError(fiber.StatusForbidden, "only dispatchers and admins switch the wall's mode")
	}
	var in struct {
		Mode       string `json:"mode"`
		IncidentID string `json:"incident_id"`
		Reason     string `json:"reason"`
	}
	if err := json.Unmarshal(c.Body(), &in); err != nil {
		return bad(c, fiber.StatusBadRequest, "body", `want JSON {"mode":"normal"|"emergency","incident_id":…,"reason":…}`)
	}
	in.Reason = strings.TrimSpace(in.Reason)
	var reasons []FieldReason
	switch in.Mode {
	case redisstore.ModeNormal:
		in.IncidentID = "" // normal is about no incident
	case redisstore.ModeEmergency:
		if in.IncidentID == "" {
			reasons = append(reasons, FieldReason{"incident_id", "required for emergency"})
		} else if _, err := a.store.Incident(c.UserContext(), in.IncidentID); errors.Is(err, redisstore.ErrNotFound) {
			reasons = append(reasons, FieldReason{"incident_id", "no incident " + in.IncidentID})
		} else if err != nil {
			return err
		}
	default:
		reasons = append(reasons, FieldReason{"mode", `want "normal" or "emergency"`})
	}
	if utf8.RuneCountInString(in.Reason) > 200 || !utf8.ValidString(in.Reason) {
		reasons = append(reasons, FieldReason{"reason", "at most 200 characters of text"})
	}
	if len(reasons) > 0 {
		return c.Status(fiber.StatusUnprocessableEntity).JSON(Problem{Error: reasons[0].Field + ": " + reasons[0].Reason, Errors: reasons})
	}
	m := redisstore.WallMode{Mode: in.Mode, IncidentID: in.IncidentID, Reason: in.Reason, By: cl.Subject, Since: time.Now().UTC()}
	if err := wallmode.New(a.store, a.pub, a.topics.WallMode()).Set(c.UserContext(), m); err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "mode not changed, retry: "+err.Error())
	}
	return c.JSON(m)
}
