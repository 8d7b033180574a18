package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/casestate"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// A dispatcher splits a wrongly fused report out: it becomes an incident of
// its own, the old one loses it from its counts and its reports, and the
// day's report count does not change.
func TestSplitOpensAnIncidentForTheReport(t *testing.T) {
	st := testenv.Store(t)
	pub := &testenv.Publisher{}
	topics := kafkabus.Topics{Prefix: "x."}
	d := New(st, pub, topics, defaultRules(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ev := sampleEvent()
	ev2 := ev
	ev2.ID, ev2.Source, ev2.SourceRef = "EV-2", event.Hotline, "GD-2"
	ev2.ReceivedAt = ev.ReceivedAt.Add(time.Minute)
	for _, e := range []event.Event{ev, ev2} {
		b, _ := json.Marshal(e)
		if err := d.Handle(t.Context(), kafka.Message{Topic: topics.Events(), Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := st.Incident(t.Context(), "INC-1")
	if before.EventCount != 2 {
		t.Fatalf("fused %d reports", before.EventCount)
	}
	statsBefore, err := st.Stats(t.Context(), ev.ReceivedAt)
	if err != nil {
		t.Fatal(err)
	}
	disp := casestate.Actor{ID: "d1", Role: casestate.RoleDispatcher}
	send := func(c casestate.Command) Result {
		t.Helper()
		c.Action, c.Actor, c.At = casestate.Split, disp, ev.ReceivedAt.Add(time.Hour)
		rec, _ := json.Marshal(CommandRecord{Schema: event.Schema, IncidentID: "INC-1", Command: c})
		if err := d.Handle(t.Context(), kafka.Message{Topic: topics.Commands(), Key: []byte("INC-1"), Value: rec}); err != nil {
			t.Fatal(err)
		}
		b, err := st.Result(t.Context(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var r Result
		_ = json.Unmarshal(b, &r)
		return r
	}
	// Refused: not a report of the incident; no reason.
	if r := send(casestate.Command{ID: "S0", BaseVersion: before.Version, EventID: "EV-9", Reason: "不是同一件事"}); r.Outcome != "refused" || r.Field != "event_id" {
		t.Fatalf("foreign report: %+v", r)
	}
	if r := send(casestate.Command{ID: "S1", BaseVersion: before.Version, EventID: "EV-2"}); r.Outcome != "refused" || r.Field != "reason" {
		t.Fatalf("no reason: %+v", r)
	}
	r := send(casestate.Command{ID: "S2", BaseVersion: before.Version, EventID: "EV-2", Reason: "不是同一件事"})
	if r.Outcome != "applied" {
		t.Fatalf("split: %+v", r)
	}
	after, _ := st.Incident(t.Context(), "INC-1")
	if after.EventCount != 1 || after.Sources[event.Hotline] != 0 || len(after.EventIDs) != 1 || after.State != before.State || after.Version != before.Version+1 {
		t.Fatalf("old incident after split: %+v", after)
	}
	if reps, _ := st.Reports(t.Context(), "INC-1"); len(reps) != 1 || reps[0].ID != "EV-1" {
		t.Fatalf("old incident's reports: %+v", reps)
	}
	newID := event.SplitIncidentID("EV-2", "S2")
	split, err := st.Incident(t.Context(), newID)
	if err != nil || split.EventCount != 1 || split.EventIDs[0] != "EV-2" || split.Source != event.Hotline || !split.State.Open() {
		t.Fatalf("new incident %+v %v", split, err)
	}
	if id, _ := st.IncidentOf(t.Context(), "EV-2"); id != newID {
		t.Fatalf("EV-2 belongs to %q", id)
	}
	if reps, _ := st.Reports(t.Context(), newID); len(reps) != 1 || reps[0].ID != "EV-2" {
		t.Fatalf("new incident's reports: %+v", reps)
	}
	statsAfter, _ := st.Stats(t.Context(), ev.ReceivedAt)
	if statsAfter.Today[event.Hotline] != statsBefore.Today[event.Hotline] || statsAfter.Today[event.Grid] != statsBefore.Today[event.Grid] {
		t.Fatalf("today's reports changed by a split: %v → %v", statsBefore.Today, statsAfter.Today)
	}
	// The only report left cannot be split out; a re-delivered command is not applied twice.
	if r := send(casestate.Command{ID: "S3", BaseVersion: after.Version, EventID: "EV-1", Reason: "x"}); r.Outcome != "refused" || r.Field != "event_id" {
		t.Fatalf("last report: %+v", r)
	}
	n := len(pub.Msgs)
	if r := send(casestate.Command{ID: "S2", BaseVersion: before.Version, EventID: "EV-2", Reason: "不是同一件事"}); r.Outcome != "applied" || len(pub.Msgs) != n {
		t.Fatalf("re-delivery: %+v, %d new records", r, len(pub.Msgs)-n)
	}
	if _, err := st.Report(t.Context(), "INC-1", "EV-2"); !errors.Is(err, redisstore.ErrNotFound) {
		t.Fatalf("report still stored with the old incident: %v", err)
	}
}

// A storm of calls about one problem (a burst main: hundreds of 12345
// calls fused into one incident) keeps every change's record small: the
// incident lists its first and latest reports only, counts them all, and
// the stored reports still have every one, so one that is no longer listed
// can be split out.
func TestStormKeepsChangesBounded(t *testing.T) {
	st := testenv.Store(t)
	pub := &testenv.Publisher{}
	topics := kafkabus.Topics{Prefix: "x."}
	d := New(st, pub, topics, defaultRules(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	const n = event.MaxEventIDs + 70
	ev := sampleEvent()
	for i := 1; i <= n; i++ {
		e := ev
		e.ID, e.SourceRef = fmt.Sprintf("EV-%d", i), fmt.Sprintf("GD-%d", i)
		e.ReceivedAt = ev.ReceivedAt.Add(time.Duration(i) * time.Second)
		b, _ := json.Marshal(e)
		if err := d.Handle(t.Context(), kafka.Message{Topic: topics.Events(), Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	inc, err := st.Incident(t.Context(), "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	if inc.EventCount != n || len(inc.EventIDs) != event.MaxEventIDs || inc.EventIDs[0] != "EV-1" || inc.EventIDs[len(inc.EventIDs)-1] != fmt.Sprintf("EV-%d", n) {
		t.Fatalf("incident after %d reports: count %d, %d ids %v", n, inc.EventCount, len(inc.EventIDs), inc.EventIDs)
	}
	if reps, _ := st.Reports(t.Context(), "INC-1"); len(reps) != n {
		t.Fatalf("%d reports stored, want %d", len(reps), n)
	}
	// The records of the last changes are no larger than the one at the bound.
	var atBound, last int
	for _, m := range pub.Msgs {
		var lc event.Lifecycle
		if json.Unmarshal(m.Value, &lc) != nil || lc.Action != "add_report" {
			continue
		}
		if lc.Incident.EventCount == event.MaxEventIDs {
			atBound = len(m.Value)
		}
		last = len(m.Value)
	}
	if atBound == 0 || last > atBound+100 {
		t.Fatalf("the last change's record is %d bytes, %d at %d reports", last, atBound, event.MaxEventIDs)
	}

	// Split out EV-10, which the incident no longer lists.
	rec, _ := json.Marshal(CommandRecord{Schema: event.Schema, IncidentID: "INC-1", Command: casestate.Command{
		ID: "S1", Action: casestate.Split, BaseVersion: inc.Version, EventID: "EV-10", Reason: "另一处漏水",
		Actor: casestate.Actor{ID: "d1", Role: casestate.RoleDispatcher}, At: ev.ReceivedAt.Add(time.Hour)}})
	if slices.Contains(inc.EventIDs, "EV-10") {
		t.Fatal("EV-10 is still listed: the test needs one that is not")
	}
	if err := d.Handle(t.Context(), kafka.Message{Topic: topics.Commands(), Key: []byte("INC-1"), Value: rec}); err != nil {
		t.Fatal(err)
	}
	b, _ := st.Result(t.Context(), "S1")
	var r Result
	_ = json.Unmarshal(b, &r)
	if r.Outcome != "applied" {
		t.Fatalf("split of an unlisted report: %+v", r)
	}
	after, _ := st.Incident(t.Context(), "INC-1")
	if after.EventCount != n-1 || len(after.EventIDs) != event.MaxEventIDs {
		t.Fatalf("after the split: count %d, %d ids", after.EventCount, len(after.EventIDs))
	}
	if id, _ := st.IncidentOf(t.Context(), "EV-10"); id != event.SplitIncidentID("EV-10", "S1") {
		t.Fatalf("EV-10 belongs to %q", id)
	}
}
