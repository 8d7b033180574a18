package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/gis/sample"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
)

type memPub struct{ msgs []kafka.Message }

func (p *memPub) Publish(_ context.Context, msgs ...kafka.Message) error {
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func TestHandlePlacesAndPublishes(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	pub := &memPub{}
	e := New(city, pub, kafkabus.Topics{Prefix: "x."}, time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	raw := event.Raw{Schema: event.Schema, ID: event.EventID(event.Emergency, "A1"), Source: event.Emergency, SourceRef: "A1", ReceivedAt: time.Now(),
		Body: json.RawMessage(`{"alarm_id":"A1","alarm_type":"119","lon":120.13,"lat":32.51}`)}
	b, _ := json.Marshal(raw)
	if err := e.Handle(t.Context(), kafka.Message{Value: b}); err != nil {
		t.Fatal(err)
	}
	if len(pub.msgs) != 1 || pub.msgs[0].Topic != "x.events" {
		t.Fatalf("published %v", pub.msgs)
	}
	var ev event.Event
	if err := json.Unmarshal(pub.msgs[0].Value, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Place.Town.Code == "" || ev.Place.Grid.Code == "" || ev.Category != "emergency.fire" || string(pub.msgs[0].Key) != ev.IncidentID {
		t.Fatalf("event %+v", ev)
	}
	fire := 0
	for _, n := range ev.Nearby {
		if n.Kind == "fire_station" && n.DistanceM > 0 {
			fire++
		}
	}
	if fire == 0 {
		t.Errorf("no fire station attached to a fire: %+v", ev.Nearby)
	}
	// A record that cannot be parsed is poison (dead-lettered), not retried.
	for _, bad := range []string{`{`, `{"schema":99}`, `{"schema":1,"source":"grid","body":{"report_id":"x"}}`} {
		if err := e.Handle(t.Context(), kafka.Message{Value: []byte(bad)}); !errors.Is(err, kafkabus.ErrPoison) {
			t.Errorf("%s: %v, want poison", bad, err)
		}
	}
}
