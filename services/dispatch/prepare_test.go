package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// Prepare is only a head start: batches decided with it leave the same
// incidents, cases, links and records as the same records decided one by
// one — with several reports of one incident in a batch (the later ones
// read the earlier ones' changes, not the prefetched state), a re-delivered
// report, a report fused with an incident closed meanwhile, and a record
// that cannot be decoded.
func TestPrepareDecidesAsWithout(t *testing.T) {
	topics := kafkabus.Topics{Prefix: "x."}
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	var msgs []kafka.Message
	add := func(ev event.Event) {
		b, _ := json.Marshal(ev)
		msgs = append(msgs, kafka.Message{Topic: topics.Events(), Offset: int64(len(msgs)), Value: b})
	}
	for i := range 40 {
		ev := sampleEvent()
		ev.ID, ev.SourceRef = fmt.Sprintf("EV-%d", i), fmt.Sprintf("R-%d", i)
		ev.IncidentID = fmt.Sprintf("INC-%d", i%7) // several reports per incident, within and across batches
		ev.ReceivedAt = at.Add(time.Duration(i) * time.Second)
		add(ev)
		if i == 20 {
			add(ev) // re-delivered
			msgs = append(msgs, kafka.Message{Topic: topics.Events(), Offset: int64(len(msgs)), Value: []byte("{not json")})
		}
	}

	decide := func(prepare bool) (*redisstore.Store, *testenv.Publisher) {
		st := testenv.Store(t)
		pub := &testenv.Publisher{}
		d := New(st, pub, topics, defaultRules(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
		d.now = func() time.Time { return at.Add(time.Hour) }
		for start := 0; start < len(msgs); start += 9 {
			batch := msgs[start:min(start+9, len(msgs))]
			if start == 27 {
				// INC-1 closes between two batches: its next report opens a new incident.
				closeIncident(t, st, "INC-1")
			}
			if prepare {
				d.Prepare(t.Context(), batch)
			}
			for _, m := range batch {
				out, err := d.Process(t.Context(), m)
				if err != nil && !errors.Is(err, kafkabus.ErrPoison) {
					t.Fatal(err)
				}
				_ = pub.Publish(t.Context(), out...)
			}
			if err := d.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		return st, pub
	}
	a, pubA := decide(false)
	b, pubB := decide(true)

	if len(pubA.Msgs) != len(pubB.Msgs) {
		t.Fatalf("%d records without Prepare, %d with", len(pubA.Msgs), len(pubB.Msgs))
	}
	for i := range pubA.Msgs {
		if string(pubA.Msgs[i].Value) != string(pubB.Msgs[i].Value) {
			t.Fatalf("record %d differs:\n%s\n%s", i, pubA.Msgs[i].Value, pubB.Msgs[i].Value)
		}
	}
	incA, nA, _ := a.Incidents(t.Context(), redisstore.Query{Limit: 100})
	incB, nB, _ := b.Incidents(t.Context(), redisstore.Query{Limit: 100})
	ja, _ := json.Marshal(incA)
	jb, _ := json.Marshal(incB)
	if nA != nB || string(ja) != string(jb) || nA < 8 {
		t.Fatalf("incidents differ (%d, %d):\n%s\n%s", nA, nB, ja, jb)
	}
	for i := range 40 {
		id := fmt.Sprintf("EV-%d", i)
		la, _ := a.IncidentOf(t.Context(), id)
		lb, _ := b.IncidentOf(t.Context(), id)
		if la != lb || la == "" {
			t.Fatalf("%s links to %q without Prepare, %q with", id, la, lb)
		}
	}
}

// closeIncident closes an incident in the store (as a dispatcher's close
// applied earlier would have).
func closeIncident(t *testing.T, st *redisstore.Store, id string) {
	t.Helper()
	inc, err := st.Incident(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	inc.Version++
	inc.State = event.Closed
	lc := event.Lifecycle{Schema: event.Schema, ID: lifecycleID(id, inc.Version), IncidentID: id, Version: inc.Version, Action: "close",
		From: event.Dispatched, To: event.Closed, Actor: event.Actor{ID: "d1", Role: "dispatcher"}, At: inc.UpdatedAt, Incident: inc}
	if _, err := st.ApplyAll(t.Context(), []event.Lifecycle{lc}); err != nil {
		t.Fatal(err)
	}
}
