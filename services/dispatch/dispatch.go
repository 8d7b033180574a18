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
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/casestate"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/routing"
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
	Case(ctx context.Context, id string) ([]byte, int, error)
	IncidentOf(ctx context.Context, eventID string) (string, error)
	Report(ctx context.Context, incidentID, eventID string) (event.Event, error)
	ApplyAll(ctx context.Context, lcs []event.Lifecycle) ([]bool, error)
	SetResult(ctx context.Context, commandID string, result []byte) error
	Result(ctx context.Context, commandID string) ([]byte, error)
	RecordRefusal(ctx context.Context, lc event.Lifecycle) error
}

// Publisher publishes records; kafkabus.Producer is one.
type Publisher interface {
	Publish(ctx context.Context, msgs ...kafka.Message) error
}

// Dispatcher opens incidents and tasks and applies commands. It is a
// kafkabus.Processor for its consumer group (events and commands): not
// safe for concurrent use, one per consumer.
type Dispatcher struct {
	b      *batch
	state  State
	pub    Publisher
	topics kafkabus.Topics
	now    func() time.Time
	rules  func() *routing.Rules
	log    *slog.Logger
	modes  Observer
}

// Observer is told of every lifecycle change newly applied to the
// projection (wallmode.Keeper: the wall's automatic mode). The dispatcher
// applies its own changes right after publishing them (read-your-writes),
// so the projector later finds them applied: whichever applies a change
// first tells the observer, exactly once.
type Observer interface {
	Observe(ctx context.Context, lc event.Lifecycle) error
}

// WithModes sets the observer of applied changes and returns d.
func (d *Dispatcher) WithModes(o Observer) *Dispatcher {
	d.modes = o
	return d
}

// New returns a dispatcher.
// rules returns the current routing rules (a routing.Watcher's Rules).
func New(state State, pub Publisher, topics kafkabus.Topics, rules func() *routing.Rules, log *slog.Logger) *Dispatcher {
	return &Dispatcher{state: state, pub: pub, topics: topics, now: time.Now, rules: rules, log: log}
}

// Process decides one record of the events or commands topic within the
// current batch (kafkabus.Processor).
func (d *Dispatcher) Process(ctx context.Context, m kafka.Message) ([]kafka.Message, error) {
	if d.b == nil {
		d.startBatch()
	}
	n := len(d.b.out)
	var err error
	if m.Topic == d.topics.Commands() {
		err = d.command(ctx, m)
	} else {
		err = d.event(ctx, m)
	}
	if err != nil {
		d.b.out = d.b.out[:n]
		return nil, err
	}
	out := d.b.out[n:]
	return out, nil
}

func (d *Dispatcher) startBatch() {
	d.b = newBatch(d.state)
	if d.modes != nil {
		d.b.observe = func(ctx context.Context, lc event.Lifecycle) {
			if err := d.modes.Observe(ctx, lc); err != nil {
				d.log.Error("wall mode: automatic rule failed", "incident", lc.IncidentID, "version", lc.Version, "err", err)
			}
		}
	}
}

// Prefetcher is implemented by a State that can read what a batch of
// events will need in one round trip (redisstore.Store).
type Prefetcher interface {
	Prefetch(ctx context.Context, eventIDs, incidentIDs []string) (*redisstore.Prefetched, error)
}

// Prepare starts a batch (kafkabus.Preparer): it decodes the batch's
// events once and reads their event → incident links and their incidents
// with cases in one round trip, where Process would make three per event.
// The batch's own changes still come first (the overlay); anything not
// read, or a failed read, is read by Process as before.
func (d *Dispatcher) Prepare(ctx context.Context, msgs []kafka.Message) {
	d.startBatch()
	var evIDs, incIDs []string
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.Topic == d.topics.Commands() {
			continue
		}
		var ev event.Event
		if wire.Unmarshal(m.Value, &ev) != nil || ev.ID == "" || ev.IncidentID == "" {
			continue // Process refuses it
		}
		d.b.decoded.Put(m, ev)
		evIDs = append(evIDs, ev.ID)
		if !seen[ev.IncidentID] {
			seen[ev.IncidentID] = true
			incIDs = append(incIDs, ev.IncidentID)
		}
	}
	pf, ok := d.state.(Prefetcher)
	if !ok || len(evIDs) == 0 {
		return
	}
	if pre, err := pf.Prefetch(ctx, evIDs, incIDs); err == nil {
		d.b.pre = pre
	}
}

// Flush applies the batch to the projection (kafkabus.Processor).
func (d *Dispatcher) Flush(ctx context.Context) error {
	if d.b == nil {
		return nil
	}
	if err := d.b.flush(ctx); err != nil {
		return err
	}
	d.b = nil
	return nil
}

// Reset drops the decisions of the current batch (the state they were made
// on is gone; the consumer decides the batch again).
func (d *Dispatcher) Reset() { d.b = nil }

// Handle processes one record on its own: decide, publish, flush (tests
// and tools; the consumer batches).
func (d *Dispatcher) Handle(ctx context.Context, m kafka.Message) error {
	out, err := d.Process(ctx, m)
	if err != nil {
		d.b = nil
		return err
	}
	if len(out) > 0 {
		if err := d.pub.Publish(ctx, out...); err != nil {
			d.b = nil
			return err
		}
	}
	return d.Flush(ctx)
}

// event opens the event's incident, or adds the event to the open incident
// the enricher fused it with.
func (d *Dispatcher) event(ctx context.Context, m kafka.Message) error {
	ev, ok := d.b.takeDecoded(m)
	if !ok {
		if err := wire.Unmarshal(m.Value, &ev); err != nil {
			return kafkabus.Poison(fmt.Errorf("decode event: %w", err))
		}
	}
	if ev.Schema != event.Schema || ev.ID == "" || ev.IncidentID == "" {
		return kafkabus.Poison(fmt.Errorf("event %q: schema %d or ids missing", ev.ID, ev.Schema))
	}
	if inc, err := d.b.IncidentOf(ctx, ev.ID); err != nil || inc != "" {
		return err // already part of an incident: a re-delivery
	}
	cur, err := d.b.Incident(ctx, ev.IncidentID)
	var c casestate.Case
	if err == nil {
		if c, err = d.loadCase(ctx, cur); err != nil {
			return err
		}
	}
	var lcs []event.Lifecycle
	switch {
	case ev.Kind == "Cancel":
		// A CAP Cancel closes the warning's incident if it is still open.
		if err != nil || !cur.State.Open() {
			return nil
		}
		next, tr, derr := casestate.Decide(c, casestate.Command{Action: casestate.Cancel, BaseVersion: c.Version, At: ev.ReceivedAt,
			Actor: casestate.Actor{ID: "system", Role: casestate.RoleSystem}, Reason: "预警解除（CAP Cancel " + ev.SourceRef + "）"})
		if derr != nil {
			return nil
		}
		lc := lifecycle(cur, next, tr)
		lc.EventID, lc.EventSource = ev.ID, ev.Source
		lc.Incident.Inspections = slices.Clone(cur.Inspections)
		for i := range lc.Incident.Inspections {
			if lc.Incident.Inspections[i].State == "pending" {
				lc.Incident.Inspections[i].State = "cancelled"
			}
		}
		lc.Incident.EventCount++
		lc.Incident.EventIDs = event.WithEventID(cur.EventIDs, ev.ID)
		lcs = []event.Lifecycle{lc}
	case errors.Is(err, redisstore.ErrNotFound):
		lcs = Open(ev, d.now(), d.rules())
	case err != nil:
		return err
	case !cur.State.Open():
		// Fused with an incident that has closed since: a new case.
		ev.IncidentID = event.IncidentIDFor(ev.ID)
		if _, err := d.b.Incident(ctx, ev.IncidentID); err == nil {
			return nil // opened before a crash; its lifecycle is being re-applied
		}
		lcs = Open(ev, d.now(), d.rules())
	default:
		lcs = []event.Lifecycle{AddReport(cur, c, ev)}
	}
	return d.b.emit(d.topics.Tasks(), m.Headers, lcs...)
}

// AddReport returns the lifecycle event that adds ev to the open incident
// cur (报告合并): counts by source, the most severe severity, last seen. It
// is a new version of the incident but no state change, so the case only
// follows the version (a command based on the older version is stale: the
// dispatcher saw fewer reports).
func AddReport(cur event.Incident, c casestate.Case, ev event.Event) event.Lifecycle {
	inc := cur
	inc.Version++
	c.Version = inc.Version
	caseJSON, _ := wire.Marshal(c)
	inc.Sources = make(map[event.Source]int, len(cur.Sources)+1)
	for k, v := range cur.Sources {
		inc.Sources[k] = v
	}
	inc.Sources[ev.Source]++
	inc.EventCount++
	inc.EventIDs = event.WithEventID(cur.EventIDs, ev.ID)
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
		At: inc.UpdatedAt, Reason: fmt.Sprintf("报告合并：%s %s", sourceName[ev.Source], ev.SourceRef),
		EventID: ev.ID, EventSource: ev.Source, Report: &ev, Incident: inc, Case: caseJSON,
	}
}

// loadCase returns the case state of an incident. An incident projected
// before cases were recorded gets a case reconstructed from its fields.
func (d *Dispatcher) loadCase(ctx context.Context, inc event.Incident) (casestate.Case, error) {
	raw, v, err := d.b.Case(ctx, inc.ID)
	if err != nil {
		return casestate.Case{}, err
	}
	var c casestate.Case
	if len(raw) > 0 {
		if err := wire.Unmarshal(raw, &c); err != nil {
			return c, fmt.Errorf("decode case %s: %w", inc.ID, err)
		}
	}
	if c.ID == "" {
		c = casestate.Case{ID: inc.ID, State: inc.State, ReceivedAt: inc.FirstSeen, UpdatedAt: inc.UpdatedAt}
		if t := inc.Task; t != nil {
			c.TaskSeq, c.Department, c.WorkerID, c.Deadline, c.DispatchedAt = 1, t.Department, t.WorkerID, t.Deadline, inc.UpdatedAt
		}
	}
	c.Version = v
	return c, nil
}

// Open returns the lifecycle events that open an incident for ev, decided
// by the case state machine and the routing rules: received (v1), then,
// where the rule says so, auto-dispatched to the rule's department with
// its deadline (v2). By default 12345 tickets wait for a dispatcher to file
// and assign them (受理, 调度) and everything else is dispatched at once.
func Open(ev event.Event, now time.Time, rules *routing.Rules) []event.Lifecycle {
	inc := event.Incident{
		ID: ev.IncidentID, Category: ev.Category, CategoryName: ev.CategoryName, Severity: ev.Severity,
		Title: ev.PublicText(ev.Title), Description: ev.PublicText(ev.Description), Source: ev.Source,
		Sources: map[event.Source]int{ev.Source: 1}, EventCount: 1, EventIDs: []string{ev.ID},
		Location: ev.Location, Address: ev.Address, Place: ev.Place,
		Area: ev.Area, AffectedGrids: ev.AffectedGrids, Expires: ev.Expires, Inspections: inspections(ev.AffectedGrids),
		FirstSeen: ev.ReceivedAt, LastSeen: ev.ReceivedAt,
	}
	system := casestate.Actor{ID: "system", Role: casestate.RoleSystem}
	c1, t1, err := casestate.Decide(casestate.Case{ID: inc.ID}, casestate.Command{Action: casestate.Receive, Actor: system, At: ev.ReceivedAt})
	if err != nil {
		return nil // cannot happen for a new case; Decide's tests cover it
	}
	received := lifecycle(inc, c1, t1)
	received.EventID, received.EventSource, received.Report = ev.ID, ev.Source, &ev
	route := rules.Decide(ev)
	if !route.AutoDispatch {
		return []event.Lifecycle{received}
	}
	at := now.UTC()
	if at.Before(ev.ReceivedAt) {
		at = ev.ReceivedAt
	}
	reason := "自动派遣至" + route.Department
	if route.Rule != "" {
		reason += "（规则：" + route.Rule + "）"
	}
	c2, t2, err := casestate.Decide(c1, casestate.Command{Action: casestate.AutoDispatch, Actor: system, BaseVersion: 1, At: at,
		Department: route.Department, WorkerID: route.WorkerID, Deadline: rules.Deadline(route, at), Reason: reason})
	if err != nil {
		return []event.Lifecycle{received}
	}
	return []event.Lifecycle{received, lifecycle(received.Incident, c2, t2)}
}

// lifecycle builds the lifecycle event of an applied transition: the
// incident after it (state, task, counters) and the case.
func lifecycle(prev event.Incident, c casestate.Case, tr casestate.Transition) event.Lifecycle {
	inc := prev
	inc.Version, inc.State, inc.UpdatedAt = c.Version, c.State, c.UpdatedAt
	if c.TaskSeq > 0 {
		inc.Task = &event.TaskRef{ID: c.TaskID(), State: c.State, Department: c.Department, WorkerID: c.WorkerID, Deadline: c.Deadline}
	}
	inc.ReworkCount, inc.ReopenCount, inc.EscalationLevel = c.ReworkCount, c.ReopenCount, c.EscalationLevel
	inc.Rating, inc.MergedInto = int(c.Rating), c.MergedInto
	caseJSON, _ := wire.Marshal(c)
	return event.Lifecycle{
		Schema: event.Schema, ID: lifecycleID(inc.ID, c.Version), IncidentID: inc.ID, TaskID: c.TaskID(), Version: c.Version,
		Action: string(tr.Action), From: tr.From, To: tr.To, Actor: tr.Actor.Event(), At: tr.At, Reason: tr.Reason,
		CommandID: tr.CommandID, Note: tr.Note, Photos: tr.Photos, Rating: int(tr.Rating),
		Case: caseJSON, Incident: inc,
	}
}

var sourceName = map[event.Source]string{event.Hotline: "12345热线", event.Grid: "网格上报", event.Emergency: "应急联动", event.Traffic: "交通事件"}

func lifecycleID(incident string, version int) string {
	return fmt.Sprintf("%s/v%d", incident, version)
}
