// Package dispatch is the dispatcher service: it consumes canonical events,
// opens an incident for each (fusing them is the enricher's decision, made
// before), assigns a task to the responsible department with a deadline,
// and records every state change as a lifecycle event on the tasks topic,
// keyed by incident id so one partition orders one case.
package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
)

// State is what the dispatcher needs to know about incidents it has seen:
// the projection store, or a fake in tests.
type State interface {
	Version(ctx context.Context, incidentID string) (int, error)
	Seen(ctx context.Context, kind, id string) (bool, error)
	MarkSeen(ctx context.Context, kind, id string, ttl time.Duration) (bool, error)
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

// seenTTL outlives the events topic's retention, so a replay within it is
// recognised.
const seenTTL = 31 * 24 * time.Hour

// Handle is the consumer handler for the events topic.
func (d *Dispatcher) Handle(ctx context.Context, m kafka.Message) error {
	var ev event.Event
	if err := json.Unmarshal(m.Value, &ev); err != nil {
		return kafkabus.Poison(fmt.Errorf("decode event: %w", err))
	}
	if ev.Schema != event.Schema || ev.ID == "" || ev.IncidentID == "" {
		return kafkabus.Poison(fmt.Errorf("event %q: schema %d or ids missing", ev.ID, ev.Schema))
	}
	if seen, err := d.state.Seen(ctx, "dispatch", ev.ID); err != nil || seen {
		return err
	}
	v, err := d.state.Version(ctx, ev.IncidentID)
	if err != nil {
		return err
	}
	if v == 0 {
		lcs := Open(ev, d.now())
		msgs := make([]kafka.Message, len(lcs))
		for i, lc := range lcs {
			b, err := json.Marshal(lc)
			if err != nil {
				return kafkabus.Poison(fmt.Errorf("encode lifecycle %s: %w", lc.ID, err))
			}
			msgs[i] = kafka.Message{Topic: d.topics.Tasks(), Key: []byte(lc.IncidentID), Value: b, Headers: m.Headers}
		}
		if err := d.pub.Publish(ctx, msgs...); err != nil {
			return err
		}
	}
	// Marked after the publish: a crash in between publishes again with the
	// same lifecycle ids, which the projection ignores.
	_, err = d.state.MarkSeen(ctx, "dispatch", ev.ID, seenTTL)
	return err
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

func lifecycleID(incident string, version int) string { return fmt.Sprintf("%s/v%d", incident, version) }
