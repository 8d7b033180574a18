package dispatch

import (
	"context"
	"errors"
	"fmt"

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

// Results stores command outcomes; redisstore.Store is one.
type Results interface {
	SetResult(ctx context.Context, commandID string, result []byte) error
	Result(ctx context.Context, commandID string) ([]byte, error)
	RecordRefusal(ctx context.Context, lc event.Lifecycle) error
}

// Route returns the handler for the dispatcher's consumer group: events
// open or join incidents, commands change them. Both topics are keyed by
// incident id with the same partition count, so one member owns both
// partitions of an incident.
func (d *Dispatcher) Route(results Results) kafkabus.Handler {
	return func(ctx context.Context, m kafka.Message) error {
		if m.Topic == d.topics.Commands() {
			return d.HandleCommand(ctx, results, m)
		}
		return d.Handle(ctx, m)
	}
}

// HandleCommand applies one command through the state machine. Applied or
// refused, the outcome is recorded: an applied change as a lifecycle event
// on tasks, a refusal in the audit trail, and both as the command's result.
// A command whose result exists was handled before (a re-delivery).
func (d *Dispatcher) HandleCommand(ctx context.Context, results Results, m kafka.Message) error {
	var rec CommandRecord
	if err := wire.Unmarshal(m.Value, &rec); err != nil {
		return kafkabus.Poison(fmt.Errorf("decode command: %w", err))
	}
	cmd := rec.Command
	if rec.Schema != event.Schema || rec.IncidentID == "" || cmd.ID == "" {
		return kafkabus.Poison(fmt.Errorf("command %q: schema, incident or id missing", cmd.ID))
	}
	if _, err := results.Result(ctx, cmd.ID); err == nil {
		return nil
	} else if !errors.Is(err, redisstore.ErrNotFound) {
		return err
	}
	cur, err := d.state.Incident(ctx, rec.IncidentID)
	if errors.Is(err, redisstore.ErrNotFound) {
		return d.result(ctx, results, Result{CommandID: cmd.ID, Outcome: "refused", Error: "not_found", Message: "no incident " + rec.IncidentID})
	}
	if err != nil {
		return err
	}
	c, err := d.loadCase(ctx, cur)
	if err != nil {
		return err
	}
	next, tr, derr := casestate.Decide(c, cmd)
	if derr != nil {
		lc := lifecycle(cur, c, tr)
		lc.ID = fmt.Sprintf("%s/refused/%s", cur.ID, cmd.ID)
		lc.Outcome, lc.Refusal, lc.Case = "refused", tr.Refusal, nil
		lc.To = cur.State
		b, err := wire.Marshal(lc)
		if err != nil {
			return kafkabus.Poison(err)
		}
		if err := d.pub.Publish(ctx, kafka.Message{Topic: d.topics.Tasks(), Key: []byte(cur.ID), Value: b}); err != nil {
			return err
		}
		if err := results.RecordRefusal(ctx, lc); err != nil {
			return err
		}
		return d.result(ctx, results, refusal(cmd.ID, c.Version, derr))
	}
	if err := d.publish(ctx, m.Headers, []event.Lifecycle{lifecycle(cur, next, tr)}); err != nil {
		return err
	}
	return d.result(ctx, results, Result{CommandID: cmd.ID, Outcome: "applied", Version: next.Version})
}

func (d *Dispatcher) result(ctx context.Context, results Results, r Result) error {
	b, _ := wire.Marshal(r)
	return results.SetResult(ctx, r.CommandID, b)
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
