package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/gis/sample"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/intake"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// enrichOne runs one raw record through Handle and returns the event.
func enrichOne(t *testing.T, e *Enricher, pub *testenv.Publisher, src event.Source, ref, body string, at time.Time) event.Event {
	t.Helper()
	raw := event.Raw{Schema: event.Schema, ID: event.EventID(src, ref), Source: src, SourceRef: ref, ReceivedAt: at, Body: json.RawMessage(body)}
	b, _ := json.Marshal(raw)
	if err := e.Handle(t.Context(), kafka.Message{Topic: e.topics.Raw(string(src)), Value: b}); err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	if err := json.Unmarshal(pub.Msgs[len(pub.Msgs)-1].Value, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// A smoke alarm, three 12345 calls and a grid report about one fire are one
// incident; a fire 3 km away and a later one are not; a labour dispute at
// the same spot never fuses.
func TestFusion(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	pub := &testenv.Publisher{}
	e := New(city, testenv.Store(t), pub, kafkabus.Topics{Prefix: "x."}, time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	first := enrichOne(t, e, pub, event.Emergency, "SMOKE-1", `{"alarm_id":"SMOKE-1","alarm_type":"smoke","lon":120.1300,"lat":32.5100}`, t0)
	same := []event.Event{
		enrichOne(t, e, pub, event.Hotline, "GD-1", `{"ticket_no":"GD-1","appeal_type":"求助","category":"火灾","content":"楼里冒烟","lon":120.1305,"lat":32.5102}`, min(2)),
		enrichOne(t, e, pub, event.Hotline, "GD-2", `{"ticket_no":"GD-2","appeal_type":"求助","category":"火警","content":"着火了","lon":120.1290,"lat":32.5095}`, min(3)),
		enrichOne(t, e, pub, event.Hotline, "GD-3", `{"ticket_no":"GD-3","appeal_type":"求助","category":"119","content":"有浓烟","lon":120.1310,"lat":32.5108}`, min(4)),
		enrichOne(t, e, pub, event.Grid, "WG-1", `{"report_id":"WG-1","worker_id":"W1","category":"火灾","description":"现场有明火","lon":120.1302,"lat":32.5099}`, min(5)),
	}
	for _, ev := range same {
		if ev.IncidentID != first.IncidentID {
			t.Errorf("%s joined %s, want %s", ev.SourceRef, ev.IncidentID, first.IncidentID)
		}
	}
	far := enrichOne(t, e, pub, event.Hotline, "GD-4", `{"ticket_no":"GD-4","appeal_type":"求助","category":"火灾","content":"着火","lon":120.16,"lat":32.51}`, min(6))
	later := enrichOne(t, e, pub, event.Hotline, "GD-5", `{"ticket_no":"GD-5","appeal_type":"求助","category":"火灾","content":"又着火","lon":120.1300,"lat":32.5100}`, t0.Add(7*time.Hour))
	labour1 := enrichOne(t, e, pub, event.Hotline, "GD-6", `{"ticket_no":"GD-6","appeal_type":"投诉","category":"拖欠工资","content":"欠薪","lon":120.1300,"lat":32.5100}`, min(8))
	labour2 := enrichOne(t, e, pub, event.Hotline, "GD-7", `{"ticket_no":"GD-7","appeal_type":"投诉","category":"拖欠工资","content":"欠薪","lon":120.1300,"lat":32.5100}`, min(9))
	if far.IncidentID == first.IncidentID || later.IncidentID == first.IncidentID || labour1.IncidentID == labour2.IncidentID {
		t.Errorf("fused what should not be: far %s later %s labour %s %s", far.IncidentID, later.IncidentID, labour1.IncidentID, labour2.IncidentID)
	}
	// Re-delivered, an event gets the same decision.
	again := enrichOne(t, e, pub, event.Hotline, "GD-1", `{"ticket_no":"GD-1","appeal_type":"求助","category":"火灾","content":"楼里冒烟","lon":120.1305,"lat":32.5102}`, min(2))
	if again.IncidentID != first.IncidentID {
		t.Errorf("re-delivery decided differently: %s", again.IncidentID)
	}
}

func TestHandlePlacesAndPublishes(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	pub := &testenv.Publisher{}
	e := New(city, testenv.Store(t), pub, kafkabus.Topics{Prefix: "x."}, time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ev := enrichOne(t, e, pub, event.Emergency, "A1", `{"alarm_id":"A1","alarm_type":"119","lon":120.13,"lat":32.51}`, time.Now())
	if len(pub.Msgs) != 1 || pub.Msgs[0].Topic != "x.events" {
		t.Fatalf("published %v", pub.Msgs)
	}
	if ev.Place.Town.Code == "" || ev.Place.Grid.Code == "" || ev.Category != "emergency.fire" || string(pub.Msgs[0].Key) != ev.IncidentID {
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

// A 12345 ticket with only an address is placed by the geocoder.
func TestAddressOnlyTicketIsGeocoded(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	pub := &testenv.Publisher{}
	e := New(city, testenv.Store(t), pub, kafkabus.Topics{Prefix: "x."}, time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	villages := city.Units(gis.LevelVillage)
	v := villages[len(villages)/2]
	info, _ := city.Unit(v.Code)
	town, _ := city.Unit(info.Parent)
	ev := enrichOne(t, e, pub, event.Hotline, "GD-ADDR", `{"ticket_no":"GD-ADDR","appeal_type":"投诉","category":"垃圾堆放","content":"垃圾","address":"姜堰区`+town.Name+v.Name+`门口"}`, time.Now())
	if ev.Location == nil || ev.Place.Village.Code != v.Code || !strings.HasPrefix(ev.OriginalCRS, "geocoded") {
		t.Fatalf("address %s%s placed at %+v in %+v (%s)", town.Name, v.Name, ev.Location, ev.Place.Village, ev.OriginalCRS)
	}
}

// The one-pass decode of a raw record with its body (a record on its
// source's topic) gives the same event, or the same error, as decoding the
// record and then its body.
func TestOnePassDecodeMatchesGeneral(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	topics := kafkabus.Topics{Prefix: "x."}
	e := New(city, nil, nil, topics, time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var msgs []kafka.Message
	for _, m := range rawRecords(t)[:8] {
		src := event.Source(strings.TrimPrefix(m.Topic, "raw."))
		if _, _, ok := intake.DecodeRaw(m.Value, src); !ok {
			t.Fatalf("the one-pass decode does not apply to %s", m.Value)
		}
		m.Topic = topics.Raw(string(src))
		msgs = append(msgs, m)
	}
	at := time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC)
	record := func(src event.Source, ct, body string) kafka.Message {
		raw := event.Raw{Schema: event.Schema, ID: event.EventID(src, "R"), Source: src, SourceRef: "R", ReceivedAt: at, ContentType: ct}
		if body != "" {
			raw.Body = json.RawMessage(body)
		}
		b, err := json.Marshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Topic: topics.Raw(string(src)), Value: b}
	}
	for _, c := range []struct {
		src  event.Source
		body string
	}{
		{event.Hotline, `{"ticket_no":"G1","appeal_type":"投诉","content":"x","address":"姜堰区三水街道"}`},
		{event.Hotline, `{"ticket_no":1}`},
		{event.Hotline, `{"ticket_no":"G1","appeal_type":"不满","content":"","lon":"120"}`},
		{event.Grid, `{"report_id":"W","worker_id":"w","category":"占道经营","lon":120.1,"lat":32.5,"photos":["a",3]}`},
		{event.Grid, `{"report_id":"W","worker_id":"w","category":"占道经营","lon":120.1,"lat":32.5,"photos":["` + strings.Repeat("p", 501) + `"]}`},
		{event.Emergency, `{"alarm_id":"A","alarm_type":"119","level":9,"lon":1e999,"lat":32.5}`},
		{event.Traffic, `{"event_id":"T","event_type":"accident","speed_kmh":-1,"lon":120.1,"lat":32.5}`},
		{event.Traffic, `null`},
		{event.Traffic, `[]`},
		{event.Traffic, ``},
	} {
		msgs = append(msgs, record(c.src, "application/json", c.body))
	}
	// A record on another source's topic, and a CAP record.
	msgs = append(msgs, kafka.Message{Topic: topics.Raw("grid"), Value: record(event.Hotline, "", `{"ticket_no":"G1"}`).Value})
	msgs = append(msgs, record(event.Emergency, "application/cap+xml", ``))
	msgs = append(msgs, kafka.Message{Topic: topics.Raw("grid"), Value: []byte(`{"schema":2,"source":"grid","body":{}}`)})
	for i, m := range msgs {
		got, gotErr := e.NormaliseRecord(m.Topic, m.Value)
		want, wantErr := e.NormaliseRecord("", m.Value)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("record %d %s: one pass: %v, general: %v", i, m.Value, gotErr, wantErr)
			continue
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("record %d %s:\n one pass %s\n general  %s", i, m.Value, g, w)
		}
	}
}

// countingFuser counts the store's fusion calls, and can fail FuseAll.
type countingFuser struct {
	Fuser
	fuse, fuseAll int
	failAll       bool
}

func (f *countingFuser) Fuse(ctx context.Context, q redisstore.FuseQuery) (string, int, error) {
	f.fuse++
	return f.Fuser.Fuse(ctx, q)
}

func (f *countingFuser) FuseAll(ctx context.Context, qs []redisstore.FuseQuery) ([]redisstore.FuseResult, error) {
	f.fuseAll++
	if f.failAll {
		return nil, errors.New("redis away")
	}
	return f.Fuser.FuseAll(ctx, qs)
}

// A batch prepared at once (kafkabus.Preparer: one fusion call for the
// batch) publishes exactly what the same records handled one by one do —
// the fire's reports fused into one incident, the others apart, an invalid
// record poison — and when the batch's fusion call fails, Process decides
// each record itself with the same result.
func TestPreparedBatchMatchesOneByOne(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	topics := kafkabus.Topics{Prefix: "x."}
	t0 := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	rec := func(offset int64, src event.Source, ref, body string, at time.Time) kafka.Message {
		raw := event.Raw{Schema: event.Schema, ID: event.EventID(src, ref), Source: src, SourceRef: ref, ReceivedAt: at, Body: json.RawMessage(body)}
		b, _ := json.Marshal(raw)
		return kafka.Message{Topic: topics.Raw(string(src)), Partition: 1, Offset: offset, Value: b}
	}
	batch := []kafka.Message{
		rec(10, event.Emergency, "SMOKE-1", `{"alarm_id":"SMOKE-1","alarm_type":"smoke","lon":120.1300,"lat":32.5100}`, t0),
		rec(11, event.Hotline, "GD-1", `{"ticket_no":"GD-1","appeal_type":"求助","category":"火灾","content":"楼里冒烟","lon":120.1305,"lat":32.5102}`, t0.Add(time.Minute)),
		rec(12, event.Hotline, "GD-BAD", `{"ticket_no":"GD-BAD","appeal_type":"求助","category":"火灾","content":"","lon":200,"lat":32.5}`, t0),
		rec(13, event.Grid, "WG-1", `{"report_id":"WG-1","worker_id":"W1","category":"火灾","description":"现场有明火","lon":120.1302,"lat":32.5099}`, t0.Add(2*time.Minute)),
		rec(14, event.Hotline, "GD-4", `{"ticket_no":"GD-4","appeal_type":"求助","category":"火灾","content":"着火","lon":120.16,"lat":32.51}`, t0.Add(3*time.Minute)),
		rec(15, event.Hotline, "GD-6", `{"ticket_no":"GD-6","appeal_type":"投诉","category":"拖欠工资","content":"欠薪","lon":120.1300,"lat":32.5100}`, t0.Add(4*time.Minute)),
		rec(16, event.Hotline, "GD-1", `{"ticket_no":"GD-1","appeal_type":"求助","category":"火灾","content":"楼里冒烟","lon":120.1305,"lat":32.5102}`, t0.Add(time.Minute)),
	}
	run := func(f *countingFuser, prepare bool) []string {
		e := New(city, f, &testenv.Publisher{}, topics, time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if prepare {
			e.Prepare(t.Context(), batch)
		}
		var out []string
		for _, m := range batch {
			msgs, err := e.Process(t.Context(), m)
			if err != nil {
				if !errors.Is(err, kafkabus.ErrPoison) {
					t.Fatalf("offset %d: %v", m.Offset, err)
				}
				out = append(out, "poison")
				continue
			}
			var ev event.Event
			if err := json.Unmarshal(msgs[0].Value, &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, string(msgs[0].Key)+" "+ev.ID+" "+ev.Place.Town.Name)
		}
		if err := e.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if len(e.prepared) != 0 {
			t.Errorf("%d prepared events left after the batch", len(e.prepared))
		}
		return out
	}
	oneByOne := &countingFuser{Fuser: testenv.Store(t)}
	want := run(oneByOne, false)
	prepared := &countingFuser{Fuser: testenv.Store(t)}
	got := run(prepared, true)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("prepared batch:\n%s\nwant (one by one):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if prepared.fuseAll != 1 || prepared.fuse != 0 {
		t.Errorf("prepared batch: %d FuseAll and %d Fuse calls, want 1 and 0", prepared.fuseAll, prepared.fuse)
	}
	if want[0][:strings.Index(want[0], " ")] != want[1][:strings.Index(want[1], " ")] || want[2] != "poison" {
		t.Errorf("the batch does not fuse the fire's reports or refuse the bad one:\n%s", strings.Join(want, "\n"))
	}
	failing := &countingFuser{Fuser: testenv.Store(t), failAll: true}
	if got := run(failing, true); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("batch fusion failed, records decided one by one:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if failing.fuse != 5 {
		t.Errorf("after the batch call failed: %d Fuse calls, want 5 (the fusing records)", failing.fuse)
	}
}
