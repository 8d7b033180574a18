package dispatch

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/casestate"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/projection"
	"github.com/citybrain-ioc/citybrain/services/routing"
)

func defaultRules(t testing.TB) func() *routing.Rules {
	r, err := routing.Default(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return func() *routing.Rules { return r }
}

func sampleEvent() event.Event {
	at := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	return event.Event{Schema: event.Schema, ID: "EV-1", IncidentID: "INC-1", Source: event.Grid, Category: "city.environment.garbage",
		CategoryName: "垃圾堆放", Severity: 4, Title: "t", Department: "城市管理局", ReceivedAt: at, Location: &event.Point{Lon: 120.1, Lat: 32.5}}
}

func TestOpen(t *testing.T) {
	ev := sampleEvent()
	lcs := Open(ev, ev.ReceivedAt.Add(time.Second), defaultRules(t)())
	if len(lcs) != 2 {
		t.Fatalf("%d lifecycle events", len(lcs))
	}
	r, d := lcs[0], lcs[1]
	if r.Version != 1 || r.To != event.Received || r.EventID != "EV-1" || r.Incident.State != event.Received {
		t.Errorf("received: %+v", r)
	}
	if d.Version != 2 || d.From != event.Received || d.To != event.Dispatched || d.Incident.Task == nil {
		t.Fatalf("dispatched: %+v", d)
	}
	if want := ev.ReceivedAt.Add(time.Second + 24*time.Hour); !d.Incident.Task.Deadline.Equal(want) {
		t.Errorf("deadline %v, want %v (garbage: 24 h)", d.Incident.Task.Deadline, want)
	}
	if r.ID == d.ID || d.Actor.Role != "system" || d.Reason == "" || len(d.Case) == 0 {
		t.Errorf("audit fields: %+v", d)
	}
	// A 12345 ticket waits for a dispatcher to file and assign it.
	ev.Source = event.Hotline
	if lcs := Open(ev, ev.ReceivedAt, defaultRules(t)()); len(lcs) != 1 || lcs[0].To != event.Received {
		t.Errorf("hotline opened with %d lifecycle events", len(lcs))
	}
}

// TestOpenMasksPersonalNumbers: the incident everyone sees carries a
// caller's text with their numbers masked; the report keeps it whole (for
// dispatchers), and a warning's text is kept as issued.
func TestOpenMasksPersonalNumbers(t *testing.T) {
	ev := sampleEvent()
	ev.Source, ev.Kind = event.Hotline, "投诉"
	ev.Title, ev.Description = "王先生13812345678反映", "身份证320602199001011234，座机0512-87654321"
	lcs := Open(ev, ev.ReceivedAt, defaultRules(t)())
	inc := lcs[0].Incident
	if inc.Title != "王先生138****5678反映" || inc.Description != "身份证320602********1234，座机0512-****4321" {
		t.Errorf("incident text %q / %q", inc.Title, inc.Description)
	}
	if r := lcs[0].Report; r == nil || r.Title != ev.Title || r.Description != ev.Description {
		t.Errorf("the report's text changed: %+v", r)
	}
	ev.Source, ev.Kind, ev.Description = event.Emergency, "Alert", "咨询电话0512-87654321"
	if inc := Open(ev, ev.ReceivedAt, defaultRules(t)())[0].Incident; inc.Description != ev.Description {
		t.Errorf("a warning's text masked: %q", inc.Description)
	}
}

func TestHandleIsIdempotentAndFuses(t *testing.T) {
	st := testenv.Store(t)
	pub := &testenv.Publisher{}
	d := New(st, pub, kafkabus.Topics{Prefix: "x."}, defaultRules(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ev := sampleEvent()
	b, _ := json.Marshal(ev)
	for range 3 { // delivered three times
		if err := d.Handle(t.Context(), kafka.Message{Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	if len(pub.Msgs) != 2 {
		t.Fatalf("published %d lifecycle records, want 2", len(pub.Msgs))
	}
	for _, m := range pub.Msgs {
		if m.Topic != "x.tasks" || string(m.Key) != "INC-1" {
			t.Errorf("record %s key %s", m.Topic, m.Key)
		}
	}
	// A second report fused into the same incident adds one version.
	ev2 := ev
	ev2.ID, ev2.Source, ev2.SourceRef, ev2.Severity = "EV-2", event.Hotline, "GD-2", 3
	ev2.ReceivedAt = ev.ReceivedAt.Add(time.Minute)
	b2, _ := json.Marshal(ev2)
	for range 2 {
		if err := d.Handle(t.Context(), kafka.Message{Value: b2}); err != nil {
			t.Fatal(err)
		}
	}
	if len(pub.Msgs) != 3 {
		t.Fatalf("published %d, want 3", len(pub.Msgs))
	}
	inc, err := st.Incident(t.Context(), "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	if inc.Version != 3 || inc.EventCount != 2 || inc.Sources[event.Hotline] != 1 || inc.Severity != 3 || inc.State != event.Dispatched {
		t.Fatalf("fused incident %+v", inc)
	}
	if err := d.Handle(t.Context(), kafka.Message{Value: []byte("{")}); err == nil {
		t.Fatal("bad record accepted")
	}
}

// Within one consumer batch a later record sees what an earlier one
// decided, though nothing is in the projection until Flush.
func TestBatchReadsItsOwnDecisions(t *testing.T) {
	st := testenv.Store(t)
	d := New(st, &testenv.Publisher{}, kafkabus.Topics{Prefix: "x."}, defaultRules(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ev := sampleEvent()
	ev2 := ev
	ev2.ID, ev2.SourceRef = "EV-2", "WG-2"
	var out []kafka.Message
	for _, e := range []event.Event{ev, ev2, ev} { // the first one twice: a duplicate in the batch
		b, _ := json.Marshal(e)
		o, err := d.Process(t.Context(), kafka.Message{Topic: "x.events", Value: b})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o...)
	}
	if len(out) != 3 {
		t.Fatalf("%d records for open (2) + add report (1)", len(out))
	}
	if _, err := st.Incident(t.Context(), "INC-1"); err == nil {
		t.Fatal("visible before Flush")
	}
	if err := d.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	inc, err := st.Incident(t.Context(), "INC-1")
	if err != nil || inc.Version != 3 || inc.EventCount != 2 {
		t.Fatalf("after flush %+v %v", inc, err)
	}
}

// Re-running the whole commands topic from the start against a projection
// rebuilt from the tasks topic changes nothing and records nothing twice.
func TestReplayingCommandsChangesNothing(t *testing.T) {
	st := testenv.Store(t)
	pub := &testenv.Publisher{}
	topics := kafkabus.Topics{Prefix: "x."}
	d := New(st, pub, topics, defaultRules(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ev := sampleEvent()
	b, _ := json.Marshal(ev)
	if err := d.Handle(t.Context(), kafka.Message{Topic: topics.Events(), Value: b}); err != nil {
		t.Fatal(err)
	}
	worker := casestate.Actor{ID: "w1", Role: casestate.RoleWorker, Department: "城市管理局"}
	at := ev.ReceivedAt.Add(time.Minute)
	var cmds []kafka.Message
	for i, c := range []casestate.Command{
		{Action: casestate.Accept, Actor: worker, BaseVersion: 2},
		{Action: casestate.Accept, Actor: worker, BaseVersion: 2}, // stale: refused
		{Action: casestate.Start, Actor: worker, BaseVersion: 3},
		{Action: casestate.Handle, Actor: worker, BaseVersion: 4, Note: "已清理"},
	} {
		c.ID, c.At = fmt.Sprintf("C%d", i), at.Add(time.Duration(i)*time.Minute)
		rec, _ := json.Marshal(CommandRecord{Schema: event.Schema, IncidentID: ev.IncidentID, Command: c})
		cmds = append(cmds, kafka.Message{Topic: topics.Commands(), Key: []byte(ev.IncidentID), Value: rec})
	}
	for _, m := range cmds {
		if err := d.Handle(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	tasks := append([]kafka.Message(nil), pub.Msgs...)
	before, _ := st.Incident(t.Context(), ev.IncidentID)
	trail, _ := st.Timeline(t.Context(), ev.IncidentID)
	if before.State != event.Handled || len(trail) != 6 { // receive, dispatch, accept, refused accept, start, handle
		t.Fatalf("state %s, %d audit entries", before.State, len(trail))
	}
	// Flush, rebuild from the tasks records, replay every command.
	if err := st.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	proj := projection.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	_ = st.SetBuilt(t.Context()) // a rebuild marks the store built when done; replaying live is the same here
	for _, m := range tasks {
		if err := proj.Handle(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	pub.Msgs = nil
	for _, m := range cmds {
		if err := d.Handle(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := st.Incident(t.Context(), ev.IncidentID)
	trail2, _ := st.Timeline(t.Context(), ev.IncidentID)
	if len(pub.Msgs) != 0 || after.Version != before.Version || after.State != before.State || len(trail2) != len(trail) {
		t.Fatalf("replay published %d records; version %d→%d, %d→%d audit entries", len(pub.Msgs), before.Version, after.Version, len(trail), len(trail2))
	}
}
