package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/casestate"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// CommandRecord is the record on the commands topic, keyed by incident id.
type CommandRecord struct {
	Schema     int               `json:"schema"`
	IncidentID string            `json:"incident_id"`
	Command    casestate.Command `json:"command"`
	// Scope is the sender's scope (a worker's grid or a dispatcher's town),
	// for checks the state machine does not make (inspections).
	Scope string `json:"scope,omitempty"`
}

// Result is the outcome of a command, stored for the API that waits on it.
type Result struct {
	CommandID string `json:"command_id"`
	Outcome   string `json:"outcome"`         // applied or refused
	Error     string `json:"error,omitempty"` // stale, forbidden, not_allowed, invalid, not_found
	Field     string `json:"field,omitempty"`
	Message   string `json:"message,omitempty"`
	Version   int    `json:"version"`
}

// command applies one command through the state machine. Applied or
// refused, the outcome is recorded: an applied change as a lifecycle event
// on tasks, a refusal in the audit trail, and both as the command's result.
// A command whose result exists was handled before (a re-delivery).
func (d *Dispatcher) command(ctx context.Context, m kafka.Message) error {
	var rec CommandRecord
	if err := wire.Unmarshal(m.Value, &rec); err != nil {
		return kafkabus.Poison(fmt.Errorf("decode command: %w", err))
	}
	cmd := rec.Command
	if rec.Schema != event.Schema || rec.IncidentID == "" || cmd.ID == "" {
		return kafkabus.Poison(fmt.Errorf("command %q: schema, incident or id missing", cmd.ID))
	}
	if _, err := d.b.Result(ctx, cmd.ID); err == nil {
		return nil
	} else if !errors.Is(err, redisstore.ErrNotFound) {
		return err
	}
	cur, err := d.b.Incident(ctx, rec.IncidentID)
	if errors.Is(err, redisstore.ErrNotFound) {
		d.b.result(Result{CommandID: cmd.ID, Outcome: "refused", Error: "not_found", Message: "no incident " + rec.IncidentID})
		return nil
	}
	if err != nil {
		return err
	}
	c, err := d.loadCase(ctx, cur)
	if err != nil {
		return err
	}
	var lc event.Lifecycle
	var next casestate.Case
	var tr casestate.Transition
	var derr error
	if cmd.Action == Inspect {
		lc, derr = d.inspect(ctx, cur, c, cmd, rec.Scope)
		tr = casestate.Transition{CaseID: cur.ID, CommandID: cmd.ID, Action: Inspect, Outcome: casestate.Refused, To: cur.State, Version: cur.Version, At: cmd.At, Actor: cmd.Actor, Note: cmd.Note}
		if derr != nil {
			tr.Refusal = derr.Error()
		}
		next = c
		next.Version = lc.Version
	} else {
		next, tr, derr = casestate.Decide(c, cmd)
		if derr == nil && cmd.Action == casestate.Split {
			var lcs []event.Lifecycle
			if lcs, derr = d.split(ctx, cur, next, tr, cmd); derr == nil {
				if err := d.b.emit(d.topics.Tasks(), m.Headers, lcs...); err != nil {
					return err
				}
				d.b.result(Result{CommandID: cmd.ID, Outcome: "applied", Version: next.Version})
				return nil
			}
			tr.Outcome, tr.Refusal, tr.To, tr.Version = casestate.Refused, derr.Error(), c.State, c.Version
		}
		if derr == nil {
			lc = lifecycle(cur, next, tr)
		}
	}
	if derr != nil {
		lc := lifecycle(cur, c, tr)
		lc.ID = fmt.Sprintf("%s/refused/%s", cur.ID, cmd.ID)
		res := refusal(cmd.ID, c.Version, derr)
		lc.Outcome, lc.Refusal, lc.Code, lc.Case = "refused", tr.Refusal, res.Error, nil
		lc.To = cur.State
		if err := d.b.refuse(d.topics.Tasks(), lc); err != nil {
			return kafkabus.Poison(err)
		}
		d.b.result(res)
		return nil
	}
	if err := d.b.emit(d.topics.Tasks(), m.Headers, lc); err != nil {
		return err
	}
	d.b.result(Result{CommandID: cmd.ID, Outcome: "applied", Version: next.Version})
	return nil
}

func refusal(id string, version int, err error) Result {
	r := Result{CommandID: id, Outcome: "refused", Message: err.Error(), Version: version}
	var fe *casestate.FieldError
	switch {
	case errors.Is(err, casestate.ErrStale):
		r.Error = "stale"
	case errors.Is(err, casestate.ErrForbidden):
		r.Error = "forbidden"
	case errors.Is(err, casestate.ErrNotAllowed):
		r.Error = "not_allowed"
	case errors.As(err, &fe):
		r.Error, r.Field = "invalid", fe.Field
	default:
		r.Error = "invalid"
	}
	return r
}

// split takes the report cmd.EventID out of the incident cur (拆分: the
// enricher fused it, a dispatcher judged it a different matter) and opens
// a new incident for it, which the routing rules then treat like any new
// one. The old incident keeps its state, place and severity; it loses the
// report from its counts and its list of reports. The new incident's id is
// derived from the report and the command, so a re-delivered command names
// the same one (event.SplitIncidentID).
//
// The new incident is written by this dispatcher, whose partition is the old
// incident's: the same hand-over as an event fused with a closed incident
// (see event), safe because nothing else knows the new id yet.
func (d *Dispatcher) split(ctx context.Context, cur event.Incident, next casestate.Case, tr casestate.Transition, cmd casestate.Command) ([]event.Lifecycle, error) {
	bad := func(reason string) error {
		return &casestate.FieldError{Field: "event_id", Reason: reason, Action: cmd.Action, State: cur.State}
	}
	// The incident lists only its first and latest reports (event.WithEventID):
	// the stored reports decide which are its own.
	listed := slices.Contains(cur.EventIDs, cmd.EventID)
	ev, err := d.b.Report(ctx, cur.ID, cmd.EventID)
	switch {
	case errors.Is(err, redisstore.ErrNotFound) && listed:
		return nil, bad(fmt.Sprintf("report %s of %s is not stored", cmd.EventID, cur.ID))
	case errors.Is(err, redisstore.ErrNotFound):
		return nil, bad(fmt.Sprintf("%s is not a report of %s", cmd.EventID, cur.ID))
	case err != nil:
		return nil, err
	}
	if cur.EventCount < 2 {
		return nil, bad("the incident has only this report: nothing to split it from")
	}
	newID := event.SplitIncidentID(cmd.EventID, cmd.ID)
	old := lifecycle(cur, next, tr)
	old.SplitEvent = cmd.EventID
	old.Reason = fmt.Sprintf("%s（%s %s 拆分为新案件 %s）", tr.Reason, sourceName[ev.Source], ev.SourceRef, newID)
	inc := &old.Incident
	inc.EventIDs = slices.DeleteFunc(slices.Clone(cur.EventIDs), func(id string) bool { return id == cmd.EventID })
	inc.EventCount = cur.EventCount - 1
	inc.Sources = make(map[event.Source]int, len(cur.Sources))
	for k, v := range cur.Sources {
		if k == ev.Source {
			v--
		}
		if v > 0 {
			inc.Sources[k] = v
		}
	}

	ev.IncidentID = newID
	opened := Open(ev, d.now(), d.rules())
	for i := range opened {
		opened[i].SplitFrom = cur.ID
	}
	if len(opened) > 0 {
		opened[0].Reason = fmt.Sprintf("拆分自案件 %s：%s", cur.ID, tr.Reason)
	}
	return append([]event.Lifecycle{old}, opened...), nil
}
