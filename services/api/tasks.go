package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/casestate"
	"github.com/citybrain-ioc/citybrain/services/dispatch"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// commandWait is how long a command request waits for the dispatcher's
// decision before answering 202 with the command id to poll.
const commandWait = 10 * time.Second

// incidentIDOf accepts an incident id or a task id (TSK-<hash>-<n>).
func incidentIDOf(id string) string {
	if rest, ok := strings.CutPrefix(id, "TSK-"); ok {
		if i := strings.LastIndexByte(rest, '-'); i > 0 {
			return "INC-" + rest[:i]
		}
	}
	return id
}

// mayAccess is the object-level check: a dispatcher only within their
// jurisdiction (a town code, or city-wide), a worker only their own tasks
// or tasks of their department without a named worker.
func mayAccess(cl auth.Claims, inc event.Incident) bool {
	switch cl.Role {
	case auth.Admin:
		return true
	case auth.Dispatcher:
		return cl.Scope == "" || inc.Place.Town.Code == cl.Scope || inc.Place.Village.Code == cl.Scope
	case auth.Worker:
		t := inc.Task
		return t != nil && (t.WorkerID == cl.Subject || (t.WorkerID == "" && cl.Department != "" && t.Department == cl.Department))
	}
	return false
}

func actorOf(cl auth.Claims) casestate.Actor {
	return casestate.Actor{ID: cl.Subject, Role: cl.Role, Department: cl.Department}
}

func (a *API) listTasks(c *fiber.Ctx) error {
	cl, err := a.caller(c, false)
	if err != nil {
		return err
	}
	items, _, err := a.store.Incidents(c.UserContext(), redisstore.Query{OpenOnly: c.Query("state") != "all", Limit: 5000})
	if err != nil {
		return err
	}
	out := []event.Incident{}
	for _, inc := range items {
		if inc.Task != nil && mayAccess(cl, inc) {
			out = append(out, inc)
		}
	}
	return c.JSON(fiber.Map{"items": out, "total": len(out)})
}

func (a *API) getTask(c *fiber.Ctx) error {
	cl, err := a.caller(c, false)
	if err != nil {
		return err
	}
	mode, ok := timelineMode(c)
	if !ok {
		return badTimeline(c)
	}
	inc, err := a.store.Incident(c.UserContext(), incidentIDOf(c.Params("id")))
	if errors.Is(err, redisstore.ErrNotFound) || (err == nil && !mayAccess(cl, inc)) {
		return bad(c, fiber.StatusNotFound, "id", "no task "+c.Params("id")+" for you") // no existence oracle
	}
	if err != nil {
		return err
	}
	raw, _, err := a.store.Case(c.UserContext(), inc.ID)
	if err != nil {
		return err
	}
	var cs casestate.Case
	_ = json.Unmarshal(raw, &cs)
	cs.Version = inc.Version
	tl, err := a.store.Timeline(c.UserContext(), inc.ID)
	if err != nil {
		return err
	}
	allowed := casestate.Allowed(cs, actorOf(cl), time.Now())
	if allowed == nil {
		allowed = []casestate.Action{}
	}
	return c.JSON(fiber.Map{"incident": inc, "allowed": allowed, "overtime": casestate.Overtime(cs, time.Now()), "timeline": timelineFor(cl, tl, mode)})
}

type commandBody struct {
	BaseVersion *int     `json:"base_version"`
	Reason      string   `json:"reason"`
	Note        string   `json:"note"`
	Photos      []string `json:"photos"`
	Department  string   `json:"department"`
	WorkerID    string   `json:"worker_id"`
	Deadline    string   `json:"deadline"`
	ReturnBy    string   `json:"return_by"`
	Rating      any      `json:"rating"`
	MergeInto   string   `json:"merge_into"`
	EventID     string   `json:"event_id"` // split: the report to take out
	Grid        string   `json:"grid"`     // inspect: the grid cell inspected
}

// command sends one command to the dispatcher and answers with its outcome:
// 200 applied (the incident after it), 409 stale or not allowed in this
// state, 403 not yours, 422 a field is wrong, 202 still being decided.
func (a *API) command(c *fiber.Ctx) error {
	cl, err := a.caller(c, false)
	if err != nil {
		return err
	}
	action := casestate.Action(c.Params("action"))
	if !action.Valid() && action != dispatch.Inspect {
		return bad(c, fiber.StatusNotFound, "action", "unknown action "+string(action))
	}
	ctx := c.UserContext()
	inc, err := a.store.Incident(ctx, incidentIDOf(c.Params("id")))
	if errors.Is(err, redisstore.ErrNotFound) || (err == nil && cl.Role != auth.Worker && !mayAccess(cl, inc)) {
		// A worker acting on a task not theirs is refused by the state
		// machine (403, audited); dispatchers outside their jurisdiction
		// learn nothing.
		return bad(c, fiber.StatusNotFound, "id", "no task "+c.Params("id")+" for you")
	}
	if err != nil {
		return err
	}
	var in commandBody
	if len(c.Body()) > 0 {
		if err := json.Unmarshal(c.Body(), &in); err != nil {
			return bad(c, fiber.StatusBadRequest, "body", "malformed JSON: "+err.Error())
		}
	}
	if in.BaseVersion == nil {
		return bad(c, fiber.StatusUnprocessableEntity, "base_version", "required: the incident version this command is based on")
	}
	if len(in.Photos) > 0 {
		ids, field, reason := a.checkPhotos(c, in.Photos)
		if field != "" {
			return bad(c, fiber.StatusUnprocessableEntity, field, reason)
		}
		in.Photos = ids
	}
	now := time.Now().UTC()
	cmd := casestate.Command{Action: action, Actor: actorOf(cl), BaseVersion: *in.BaseVersion, At: now,
		Reason: in.Reason, Note: in.Note, Photos: in.Photos, Department: in.Department, WorkerID: in.WorkerID, MergeInto: in.MergeInto, EventID: in.EventID}
	for field, v := range map[string]struct {
		s   string
		dst *time.Time
	}{"deadline": {in.Deadline, &cmd.Deadline}, "return_by": {in.ReturnBy, &cmd.ReturnBy}} {
		if v.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v.s)
		if err != nil {
			return bad(c, fiber.StatusUnprocessableEntity, field, "want RFC 3339, e.g. 2026-11-23T18:00:00+08:00")
		}
		*v.dst = t.UTC()
	}
	if in.Rating != nil {
		r, err := casestate.ParseRating(strings.TrimSpace(toString(in.Rating)))
		if err != nil {
			return bad(c, fiber.StatusUnprocessableEntity, "rating", err.Error())
		}
		cmd.Rating = r
	}
	if action == casestate.Dispatch || action == casestate.Reassign {
		// The routing rules give the department and the deadline (in working
		// time where the rule says so) unless the dispatcher chose them.
		rules := a.rules()
		route := rules.Decide(event.Event{Source: inc.Source, Category: inc.Category, Severity: inc.Severity, Place: inc.Place})
		if cmd.Deadline.IsZero() {
			cmd.Deadline = rules.Deadline(route, now)
		}
		if cmd.Department == "" && action == casestate.Dispatch {
			cmd.Department = route.Department
		}
	}
	if action == dispatch.Inspect {
		if in.Grid == "" {
			return bad(c, fiber.StatusUnprocessableEntity, "grid", "required: the grid cell inspected")
		}
		cmd.WorkerID = in.Grid
	}
	cmd.ID = commandID(c.Get("Idempotency-Key"), cl.Subject)
	rec, _ := json.Marshal(dispatch.CommandRecord{Schema: event.Schema, IncidentID: inc.ID, Command: cmd, Scope: cl.Scope})
	if err := a.pub.Publish(ctx, kafka.Message{Topic: a.topics.Commands(), Key: []byte(inc.ID), Value: rec}); err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "command not stored, retry")
	}
	res, ok := a.waitResult(ctx, cmd.ID)
	if !ok {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"command_id": cmd.ID, "status": "pending"})
	}
	if res.Outcome == "applied" {
		after, err := a.store.Incident(ctx, inc.ID)
		if err != nil {
			return err
		}
		out := fiber.Map{"command_id": cmd.ID, "outcome": "applied", "incident": after}
		if action == casestate.Split {
			newID := event.SplitIncidentID(cmd.EventID, cmd.ID)
			// The result is recorded with the first of the command's changes
			// (the projector may apply it before the dispatcher's batch
			// brings the new incident): answer once the new one is readable.
			a.waitIncident(ctx, newID)
			out["new_incident_id"] = newID
		}
		return c.JSON(out)
	}
	status := map[string]int{"stale": 409, "not_allowed": 409, "forbidden": 403, "invalid": 422, "not_found": 404}[res.Error]
	if status == 0 {
		status = 409
	}
	body := Problem{Error: res.Message}
	if res.Field != "" {
		body.Errors = []FieldReason{{res.Field, res.Message}}
	}
	return c.Status(status).JSON(fiber.Map{"error": body.Error, "errors": body.Errors, "code": res.Error, "command_id": cmd.ID, "version": res.Version})
}

func (a *API) waitResult(ctx context.Context, id string) (r dispatch.Result, ok bool) {
	ok = poll(ctx, func() bool {
		b, err := a.store.Result(ctx, id)
		return err == nil && json.Unmarshal(b, &r) == nil
	})
	return r, ok
}

// poll calls done with a growing pause (5 ms … 100 ms) until it reports
// true or commandWait passed; it reports whether done did.
func poll(ctx context.Context, done func() bool) bool {
	deadline := time.Now().Add(commandWait)
	for delay := 5 * time.Millisecond; time.Now().Before(deadline); delay = min(delay*2, 100*time.Millisecond) {
		if done() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
	return false
}

// waitIncident waits until the incident id is in the projection (or
// commandWait passed).
func (a *API) waitIncident(ctx context.Context, id string) {
	poll(ctx, func() bool {
		_, err := a.store.Incident(ctx, id)
		return err == nil
	})
}

// commandID is derived from the client's Idempotency-Key (so a retried
// request is the same command) or random.
func commandID(key, subject string) string {
	if key != "" {
		sum := sha256.Sum256([]byte(subject + "\x00" + key))
		return "CMD-" + hex.EncodeToString(sum[:12])
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "CMD-" + hex.EncodeToString(b)
}

func toString(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.Itoa(int(x))
	case string:
		return x
	}
	return ""
}
