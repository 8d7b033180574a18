package wallmode_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/projection"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/wallmode"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

type rig struct {
	t       *testing.T
	ctx     context.Context
	brokers []string
	topics  kafkabus.Topics
	store   *redisstore.Store
	prod    *kafkabus.Producer
	proj    *projection.Projector
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{t: t, ctx: ctx, brokers: testenv.Kafka(t), topics: kafkabus.Topics{Prefix: testenv.Prefix(t)}, store: testenv.Store(t)}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := kafkabus.EnsureTopics(cctx, r.brokers, 1, 1, []kafkabus.Spec{{Name: r.topics.Tasks()}, {Name: r.topics.WallMode()}}); err != nil {
		t.Fatal(err)
	}
	r.prod = kafkabus.NewProducer(r.brokers)
	t.Cleanup(func() { _ = r.prod.Close() })
	r.proj = projection.New(r.store, slog.New(slog.DiscardHandler)).WithModes(wallmode.New(r.store, r.prod, r.topics.WallMode()))
	return r
}

// change publishes one lifecycle change to the tasks topic and has the
// projector handle it, as its consumer would.
func (r *rig) change(id string, v int, sev int, state event.State) {
	r.t.Helper()
	r.changeWith(id, v, sev, state, nil)
}

func (r *rig) changeWith(id string, v int, sev int, state event.State, report *event.Event) {
	r.t.Helper()
	inc := event.Incident{ID: id, Version: v, State: state, Severity: sev, Title: "事件 " + id, Source: event.Emergency, UpdatedAt: time.Now().UTC()}
	lc := event.Lifecycle{Schema: event.Schema, ID: fmt.Sprintf("%s/%d", id, v), IncidentID: id, Version: v, To: state, At: time.Now().UTC(), Incident: inc, Report: report}
	b, _ := wire.Marshal(lc)
	m := kafka.Message{Topic: r.topics.Tasks(), Key: []byte(id), Value: b}
	if err := r.prod.Publish(r.ctx, m); err != nil {
		r.t.Fatal(err)
	}
	if err := r.proj.Handle(r.ctx, m); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) mode() redisstore.WallMode {
	r.t.Helper()
	m, err := r.store.GetWallMode(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

func (r *rig) want(mode, incident string, auto bool) {
	r.t.Helper()
	if m := r.mode(); m.Mode != mode || m.IncidentID != incident || m.Auto != auto {
		r.t.Fatalf("mode %+v, want %s %q auto=%v", m, mode, incident, auto)
	}
}

// AutoHoldFloor: the hold left after the test's few steps.
const AutoHoldFloor = wallmode.AutoHold - time.Minute

func TestAutomaticModeFollowsTheIncident(t *testing.T) {
	r := newRig(t)
	r.want("normal", "", false)
	r.change("A", 1, 3, event.Received) // severity III: nothing
	r.want("normal", "", false)
	r.change("B", 1, 2, event.Received) // II opens: emergency for B
	r.want("emergency", "B", true)
	r.change("B", 1, 2, event.Received) // redelivered: nothing changes, nothing recorded twice
	r.change("C", 1, 1, event.Received) // another one while in emergency: stays with B
	r.want("emergency", "B", true)
	r.change("C", 2, 1, event.Closed) // C ends: not the mode's incident
	r.want("emergency", "B", true)
	r.change("B", 2, 2, event.Filed) // B changes but stays open
	r.want("emergency", "B", true)
	r.change("B", 3, 2, event.Merged) // B ends: back to normal by itself
	r.want("normal", "", true)

	// A manual emergency is not undone by its incident ending.
	k := wallmode.New(r.store, r.prod, r.topics.WallMode())
	if err := k.Set(r.ctx, redisstore.WallMode{Mode: "emergency", IncidentID: "D", By: "dispatcher", Since: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	r.change("D", 1, 1, event.Received)
	r.change("D", 2, 1, event.Closed)
	r.want("emergency", "D", false)
	// A person switches back; a new severe incident switches again.
	if err := k.Set(r.ctx, redisstore.WallMode{Mode: "normal", By: "dispatcher", Since: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	// For AutoHold a severity II incident leaves the wall as the person left it …
	r.change("H", 1, 2, event.Received)
	r.want("normal", "", false)
	if m := r.mode(); time.Until(m.HoldUntil) < AutoHoldFloor {
		t.Fatalf("hold until %v", m.HoldUntil)
	}
	// … but a yellow warning updated to red takes it over (severity I does too, below).
	// A yellow warning opens nothing; its update to red does.
	r.change("W", 1, 3, event.Received)
	r.want("normal", "", false)
	r.changeWith("W", 2, 1, event.Received, &event.Event{Kind: "Update", Severity: 1})
	r.want("emergency", "W", true)
	r.change("W", 3, 1, event.Closed)
	r.want("normal", "", true)
	r.change("E", 1, 1, event.Received)
	r.want("emergency", "E", true)
	// Once the hold is over, severity II switches again.
	if err := k.Set(r.ctx, redisstore.WallMode{Mode: "normal", By: "dispatcher", Since: time.Now().Add(-wallmode.AutoHold - time.Second).UTC()}); err != nil {
		t.Fatal(err)
	}
	r.change("F", 1, 2, event.Received)
	r.want("emergency", "F", true)

	log, err := r.store.WallModeLog(r.ctx)
	if err != nil || len(log) != 9 {
		t.Fatalf("mode log: %d entries (want 9: B, normal, D, normal, W, normal, E, normal, F): %v", len(log), err)
	}
	// The gateways get each change on the realtime stream.
	ents, _ := r.store.Client().XRange(r.ctx, r.store.WallStream(), "-", "+").Result()
	modes := 0
	for _, e := range ents {
		if e.Values["kind"] == "mode" {
			modes++
		}
	}
	if modes != 9 {
		t.Errorf("%d mode entries in the realtime stream, want 9", modes)
	}

	// A rebuild into an empty store restores the last mode from the topic.
	if err := r.store.Flush(r.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := projection.Rebuild(r.ctx, r.store, r.brokers, r.topics.Tasks(), 0, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	r.want("emergency", "F", true)
	if inc, err := r.store.Incident(r.ctx, "B"); err != nil || inc.State != event.Merged {
		t.Fatalf("rebuilt B: %+v %v", inc.State, err)
	}
}
