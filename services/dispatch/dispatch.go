// Package dispatch is the dispatcher service: it consumes canonical events,
// opens an incident for each (fusing them is the enricher's decision, made
// before), assigns a task to the responsible department with a deadline,
// and records every state change as a lifecycle event on the tasks topic,
// keyed by incident id so one partition orders one case.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// State is the dispatcher's view of incidents: the projection store, which
// the dispatcher updates itself right after publishing, so it always reads
// its own writes (the projector consumer applies the same records again,
// idempotently). One dispatcher instance owns an incident's partition of
// events and commands (co-partitioned topics, range assignment), so it is
// the only writer of that incident.
type State interface {
	Incident(ctx context.Context, id string) (event.Incident, error)
	IncidentOf(ctx context.Context, eventID string) (string, error)
	Apply(ctx context.Context, lc event.Lifecycle) (bool, error)
}

// Publisher publishes records; kafkabus.Producer is one.
type Publisher interface {
	Publish(ctx context.Context, msgs ...kafka.Message) error
}

// Dispatcher opens incidents and tasks.
type Dispatcher struct {
	state  State
	pub    Publisher
	topics kafkabus.Topics
	now    func() time.Time
	log    *slog.Logger
}

// New returns a dispatcher.
func New(state State, pub Publisher, topics kafkabus.Topics, log *slog.Logger) *Dispatcher {
	return &Dispatcher{state: state, pub: pub, topics: topics, now: time.Now, log: log}
}

// Handle is the consumer handler for the events topic: the event opens
// its incident, or is added to the open incident the enricher fused it with.
func (d *Dispatcher) Handle(ctx context.Context, m kafka.Message) error {
	var ev event.Event
	if err := wire.Unmarshal(m.Value, &ev); err != nil {
		return kafkabus.Poison(fmt.Errorf("decode event: %w", err))
	}
	if ev.Schema != event.Schema || ev.ID == "" || ev.IncidentID == "" {
		return kafkabus.Poison(fmt.Errorf("event %q: schema %d or ids missing", ev.ID, ev.Schema))
	}
	if inc, err := d.state.IncidentOf(ctx, ev.ID); err != nil || inc != "" {
		return err // already part of an incident: a re-delivery
	}
	cur, err := d.state.Incident(ctx, ev.IncidentID)
	var lcs []event.Lifecycle
	switch {
	case ev.Kind == "Cancel":
		// A CAP Cancel closes the warning's incident if it is still open.
		if err != nil || !cur.State.Open() {
			return nil
		}
		lcs = []event.Lifecycle{cancel(cur, ev)}
	case errors.Is(err, redisstore.ErrNotFound):
		lcs = Open(ev, d.now())
	case err != nil:
		return err
	case !cur.State.Open():
		// Fused with an incident that has closed since: a new case.
		ev.IncidentID = event.IncidentIDFor(ev.ID)
		if _, err := d.state.Incident(ctx, ev.IncidentID); err == nil {
			return nil // opened before a crash; its lifecycle is being re-applied
		}
		lcs = Open(ev, d.now())
	default:
		lcs = []event.Lifecycle{AddReport(cur, ev)}
	}
	return d.publish(ctx, m.Headers, lcs)
}

// publish writes the lifecycle events to tasks, then applies them to the
// projection. A crash in between re-publishes the same ids on redelivery.
func (d *Dispatcher) publish(ctx context.Context, headers []kafka.Header, lcs []event.Lifecycle) error {
	msgs := make([]kafka.Message, len(lcs))
	for i, lc := range lcs {
		b, err := wire.Marshal(lc)
		if err != nil {
			return kafkabus.Poison(fmt.Errorf("encode lifecycle %s: %w", lc.ID, err))
		}
		msgs[i] = kafka.Message{Topic: d.topics.Tasks(), Key: []byte(lc.IncidentID), Value: b, Headers: headers}
	}
	if err := d.pub.Publish(ctx, msgs...); err != nil {
		return err
	}
	for _, lc := range lcs {
		if _, err := d.state.Apply(ctx, lc); err != nil {
			return err
		}
	}
	return nil
}

// AddReport returns the lifecycle event that adds ev to the open incident
// cur (报告合并): counts by source, the most severe severity, last seen.
func AddReport(cur event.Incident, ev event.Event) event.Lifecycle {
	inc := cur
	inc.Version++
	inc.Sources = make(map[event.Source]int, len(cur.Sources)+1)
	for k, v := range cur.Sources {
		inc.Sources[k] = v
	}
	inc.Sources[ev.Source]++
	inc.EventCount++
	inc.EventIDs = append(append([]string(nil), cur.EventIDs...), ev.ID)
	if ev.Severity > 0 && ev.Severity < inc.Severity {
		inc.Severity = ev.Severity
	}
	if ev.ReceivedAt.After(inc.LastSeen) {
		inc.LastSeen = ev.ReceivedAt
	}
	if ev.ReceivedAt.After(inc.UpdatedAt) {
		inc.UpdatedAt = ev.ReceivedAt
	}
	if inc.Location == nil {
		inc.Location, inc.Place = ev.Location, ev.Place
	}
	if ev.Kind == "Update" { // a CAP Update replaces the warning's content
		inc.Title, inc.Description, inc.Severity = ev.Title, ev.Description, ev.Severity
		if ev.Area != nil {
			inc.Area, inc.AffectedGrids, inc.Location, inc.Place = ev.Area, ev.AffectedGrids, ev.Location, ev.Place
		}
		if ev.Expires != nil {
			inc.Expires = ev.Expires
		}
	}
	return event.Lifecycle{
		Schema: event.Schema, ID: lifecycleID(inc.ID, inc.Version), IncidentID: inc.ID, Version: inc.Version,
		Action: "add_report", From: cur.State, To: cur.State, Actor: event.Actor{ID: "system", Role: "system"},
		At: inc.UpdatedAt, Reason: fmt.Sprintf("fused: %s report %s", ev.Source, ev.SourceRef),
		EventID: ev.ID, EventSource: ev.Source, Incident: inc,
	}
}

// Open returns the lifecycle events that open an incident for ev: received
// (v1), then dispatched to the category's department with its deadline (v2).
func Open(ev event.Event, now time.Time) []event.Lifecycle {
	system := event.Actor{ID: "system", Role: "system"}
	inc := event.Incident{
		ID: ev.IncidentID, Version: 1, State: event.Received,
		Category: ev.Category, CategoryName: ev.CategoryName, Severity: ev.Severity,
		Title: ev.Title, Description: ev.Description, Source: ev.Source,
		Sources: map[event.Source]int{ev.Source: 1}, EventCount: 1, EventIDs: []string{ev.ID},
		Location: ev.Location, Address: ev.Address, Place: ev.Place,
		Area: ev.Area, AffectedGrids: ev.AffectedGrids, Expires: ev.Expires,
		FirstSeen: ev.ReceivedAt, LastSeen: ev.ReceivedAt, UpdatedAt: ev.ReceivedAt,
	}
	received := event.Lifecycle{
		Schema: event.Schema, ID: lifecycleID(inc.ID, 1), IncidentID: inc.ID, Version: 1,
		Action: "receive", To: event.Received, Actor: system, At: ev.ReceivedAt,
		EventID: ev.ID, EventSource: ev.Source, Incident: inc,
	}
	allowed := 24 * time.Hour
	if c, err := taxonomy.Lookup(ev.Category); err == nil {
		allowed = c.Allowed
	}
	at := now.UTC()
	if at.Before(ev.ReceivedAt) {
		at = ev.ReceivedAt
	}
	task := &event.TaskRef{ID: event.TaskIDFor(inc.ID, 1), State: event.Dispatched, Department: ev.Department, Deadline: at.Add(allowed)}
	inc2 := inc
	inc2.Version, inc2.State, inc2.UpdatedAt, inc2.Task = 2, event.Dispatched, at, task
	dispatched := event.Lifecycle{
		Schema: event.Schema, ID: lifecycleID(inc.ID, 2), IncidentID: inc.ID, TaskID: task.ID, Version: 2,
		Action: "dispatch", From: event.Received, To: event.Dispatched, Actor: system, At: at,
		Reason: "auto-dispatch by category to " + ev.Department, Incident: inc2,
	}
	return []event.Lifecycle{received, dispatched}
}

// cancel closes a warning's incident on a CAP Cancel.
func cancel(cur event.Incident, ev event.Event) event.Lifecycle {
	lc := AddReport(cur, ev)
	lc.Action, lc.To = "cancel", event.Closed
	lc.Incident.State = event.Closed
	if lc.Incident.Task != nil {
		t := *lc.Incident.Task
		t.State = event.Closed
		lc.Incident.Task = &t
	}
	lc.Reason = "CAP Cancel " + ev.SourceRef
	return lc
}

func lifecycleID(incident string, version int) string {
	return fmt.Sprintf("%s/v%d", incident, version)
}
