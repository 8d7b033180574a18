package dispatch

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
)

// memState is a small in-memory State for tests.
type memState struct {
	mu       sync.Mutex
	versions map[string]int
	seen     map[string]bool
}

func (m *memState) Version(_ context.Context, id string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.versions[id], nil
}
func (m *memState) Seen(_ context.Context, kind, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen[kind+id], nil
}
func (m *memState) MarkSeen(_ context.Context, kind, id string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.seen[kind+id]
	m.seen[kind+id] = true
	return !was, nil
}

type memPub struct{ msgs []kafka.Message }

func (p *memPub) Publish(_ context.Context, msgs ...kafka.Message) error {
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func sampleEvent() event.Event {
	at := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	return event.Event{Schema: event.Schema, ID: "EV-1", IncidentID: "INC-1", Source: event.Hotline, Category: "city.environment.garbage",
		CategoryName: "垃圾堆放", Severity: 4, Title: "t", Department: "城市管理局", ReceivedAt: at, Location: &event.Point{Lon: 120.1, Lat: 32.5}}
}

func TestOpen(t *testing.T) {
	ev := sampleEvent()
	lcs := Open(ev, ev.ReceivedAt.Add(time.Second))
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
	if r.ID == d.ID || d.Actor.Role != "system" || d.Reason == "" {
		t.Errorf("audit fields: %+v", d)
	}
}

func TestHandleIsIdempotent(t *testing.T) {
	st := &memState{versions: map[string]int{}, seen: map[string]bool{}}
	pub := &memPub{}
	d := New(st, pub, kafkabus.Topics{Prefix: "x."}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b, _ := json.Marshal(sampleEvent())
	for range 3 { // delivered three times
		if err := d.Handle(t.Context(), kafka.Message{Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	if len(pub.msgs) != 2 {
		t.Fatalf("published %d lifecycle records, want 2", len(pub.msgs))
	}
	for _, m := range pub.msgs {
		if m.Topic != "x.tasks" || string(m.Key) != "INC-1" {
			t.Errorf("record %s key %s", m.Topic, m.Key)
		}
	}
	// After a Redis flush the marks are gone but the projection knows the incident.
	st.seen = map[string]bool{}
	st.versions["INC-1"] = 2
	if err := d.Handle(t.Context(), kafka.Message{Value: b}); err != nil || len(pub.msgs) != 2 {
		t.Fatalf("re-opened a known incident: %v, %d", err, len(pub.msgs))
	}
	if err := d.Handle(t.Context(), kafka.Message{Value: []byte("{")}); err == nil {
		t.Fatal("bad record accepted")
	}
}
