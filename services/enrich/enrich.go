// Package enrich is the enricher service: it consumes raw.<source>,
// normalises each record to the canonical event (category, severity,
// WGS-84), places it (admin hierarchy, nearest resources), decides which
// incident it belongs to, and publishes it to the events topic keyed by
// incident id.
package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/intake"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/routing"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// Places is what the enricher needs of the GIS.
type Places interface {
	AreaPlaces
	AppendNearest(dst []gis.Nearby, p orb.Point, kind string, k int) []gis.Nearby
	Geocode(text string) (gis.GeocodeResult, error)
}

// MinGeocodeConfidence is the least geocoder confidence that places a
// report given only as an address (a village or a road, not just a town).
const MinGeocodeConfidence = 0.6

// Fuser decides, atomically and once per event, which incident an event
// joins; redisstore.Store is one.
type Fuser interface {
	Fuse(ctx context.Context, q redisstore.FuseQuery) (string, int, error)
	FuseAll(ctx context.Context, qs []redisstore.FuseQuery) ([]redisstore.FuseResult, error)
	IncidentOf(ctx context.Context, eventID string) (string, error)
}

// Publisher publishes records; kafkabus.Producer is one.
type Publisher interface {
	Publish(ctx context.Context, msgs ...kafka.Message) error
}

// Enricher turns raw records into canonical events.
type Enricher struct {
	places Places
	rules  func() *routing.Rules // fusion rules; nil = the built-in ones
	fuser  Fuser
	pub    Publisher
	topics kafkabus.Topics
	// sources maps each raw.<source> topic to its source.
	sources map[string]event.Source
	loc     *time.Location
	log     *slog.Logger

	// prepared holds the events Prepare decided for the batch being
	// handled, by record; Process takes them out.
	mu       sync.Mutex
	prepared map[recordKey]event.Event
}

type recordKey struct {
	topic     string
	partition int
	offset    int64
}

// WithRules makes the enricher read fusion rules from the routing file.
func (e *Enricher) WithRules(rules func() *routing.Rules) *Enricher {
	e.rules = rules
	return e
}

// New returns an enricher.
func New(places Places, fuser Fuser, pub Publisher, topics kafkabus.Topics, loc *time.Location, log *slog.Logger) *Enricher {
	sources := make(map[string]event.Source, len(event.Sources))
	for _, src := range event.Sources {
		sources[topics.Raw(string(src))] = src
	}
	return &Enricher{places: places, fuser: fuser, pub: pub, topics: topics, sources: sources, loc: loc, log: log}
}

// resourceKinds are the resources worth attaching to an event, per family.
var resourceKinds = map[string][]string{
	"fire":             {"fire_station", "hospital"},
	"gas":              {"fire_station"},
	"medical":          {"hospital"},
	"public_security":  {"police"},
	"traffic_accident": {"police", "hospital"},
	"water":            {"water_sensor", "shelter"},
	"weather":          {"shelter"},
	"safety":           {"fire_station", "police"},
}

// Normalise turns one raw record into the canonical event. It does no I/O
// and is deterministic: the same raw record always gives the same event.
func (e *Enricher) Normalise(raw event.Raw) (event.Event, error) {
	if raw.ContentType == intake.CAPContentType {
		return e.normaliseCAP(raw)
	}
	ev, err := intake.Parse(raw.Source, raw.Body, raw.ReceivedAt, e.loc)
	return e.place(raw, ev, err)
}

// NormaliseRecord decodes a record of a raw.<source> topic and normalises
// it: Normalise, with the record and its body decoded in one pass when the
// topic names a JSON source (intake.DecodeRaw). A record that cannot be
// decoded is poison.
func (e *Enricher) NormaliseRecord(topic string, value []byte) (event.Event, error) {
	if src, ok := e.sources[topic]; ok {
		if raw, in, ok := intake.DecodeRaw(value, src); ok && raw.Schema == event.Schema {
			ev, err := intake.ParseInput(src, in, raw.ReceivedAt, e.loc)
			return e.place(raw, ev, err)
		}
	}
	var raw event.Raw
	if err := wire.Unmarshal(value, &raw); err != nil {
		return event.Event{}, kafkabus.Poison(fmt.Errorf("decode raw record: %w", err))
	}
	if raw.Schema != event.Schema {
		return event.Event{}, kafkabus.Poison(fmt.Errorf("raw record schema %d, want %d", raw.Schema, event.Schema))
	}
	return e.Normalise(raw)
}

// place finishes a parsed report: id, geocoding, admin hierarchy, nearest
// resources.
func (e *Enricher) place(raw event.Raw, ev event.Event, err error) (event.Event, error) {
	if err != nil {
		return ev, fmt.Errorf("normalise %s: %w", raw.ID, err)
	}
	ev.ID = raw.ID
	ev.ReceivedAt = raw.ReceivedAt.UTC()
	if ev.Location == nil && ev.Address != "" {
		// Most 12345 calls come with an address only.
		if g, err := e.places.Geocode(ev.Address); err == nil && g.Confidence >= MinGeocodeConfidence {
			ev.Location = &event.Point{Lon: g.Point[0], Lat: g.Point[1]}
			ev.OriginalCRS = "geocoded:" + g.MatchedBy
		}
	}
	if ev.Location != nil {
		p := orb.Point{ev.Location.Lon, ev.Location.Lat}
		place, err := e.places.Locate(p)
		switch {
		case err == nil:
			ev.Place = place
		case errors.Is(err, gis.ErrOutside):
			// Accepted before the service area changed; keep the point, no place.
		default:
			return ev, fmt.Errorf("locate %s: %w", raw.ID, err)
		}
		kinds := resourceKinds[family(ev.Category)]
		if len(kinds) > 0 {
			ev.Nearby = make([]gis.Nearby, 0, 3*len(kinds))
		}
		for _, kind := range kinds {
			ev.Nearby = e.places.AppendNearest(ev.Nearby, p, kind, 3)
		}
	}
	ev.IncidentID = event.IncidentIDFor(ev.ID)
	return ev, nil
}

// Handle enriches one record and publishes the event (tests and tools;
// the consumer batches through Process).
func (e *Enricher) Handle(ctx context.Context, m kafka.Message) error {
	out, err := e.Process(ctx, m)
	if err != nil {
		return err
	}
	return e.pub.Publish(ctx, out...)
}

// Flush drops what Prepare left: the enricher's only output is the event
// (kafkabus.Processor).
func (e *Enricher) Flush(context.Context) error {
	e.Reset()
	return nil
}

// Reset drops the batch's prepared events (kafkabus.Guard: the batch is
// decided again).
func (e *Enricher) Reset() {
	e.mu.Lock()
	clear(e.prepared)
	e.mu.Unlock()
}

// Prepare normalises a batch's records and decides the fusion of all of
// them in one call to the store (kafkabus.Preparer): one round trip, and
// on the embedded Redis one Lua state, per batch instead of per record.
// A record it cannot prepare (invalid, an update naming an earlier alert,
// or the store failing) is left to Process, which gives the same result:
// a fusion decision is stored per event, so deciding again returns it.
func (e *Enricher) Prepare(ctx context.Context, batch []kafka.Message) {
	e.Reset()
	evs := make([]event.Event, 0, len(batch))
	keys := make([]recordKey, 0, len(batch))
	var qs []redisstore.FuseQuery
	var queried []int // evs[queried[i]] is decided by qs[i]
	for _, m := range batch {
		ev, err := e.NormaliseRecord(m.Topic, m.Value)
		if err != nil || len(ev.References) > 0 {
			continue
		}
		if q, ok := e.fuseQuery(&ev); ok {
			qs = append(qs, q)
			queried = append(queried, len(evs))
		}
		evs = append(evs, ev)
		keys = append(keys, recordKey{m.Topic, m.Partition, m.Offset})
	}
	decided := true
	if len(qs) > 0 {
		res, err := e.fuser.FuseAll(ctx, qs)
		if err != nil {
			decided = false // Process decides each, with its retries
		} else {
			for i, r := range res {
				evs[queried[i]].IncidentID = r.IncidentID
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.prepared == nil {
		e.prepared = make(map[recordKey]event.Event, len(evs))
	}
	q := 0
	for i := range evs {
		if q < len(queried) && queried[q] == i {
			q++
			if !decided {
				continue
			}
		}
		e.prepared[keys[i]] = evs[i]
	}
}

// takePrepared returns the event Prepare made of m, if any.
func (e *Enricher) takePrepared(m kafka.Message) (event.Event, bool) {
	k := recordKey{m.Topic, m.Partition, m.Offset}
	e.mu.Lock()
	defer e.mu.Unlock()
	ev, ok := e.prepared[k]
	if ok {
		delete(e.prepared, k)
	}
	return ev, ok
}

// Process turns a raw.<source> record into the event record to publish
// (kafkabus.Processor).
func (e *Enricher) Process(ctx context.Context, m kafka.Message) ([]kafka.Message, error) {
	ev, ok := e.takePrepared(m)
	if !ok {
		var err error
		if ev, err = e.decide(ctx, m); err != nil {
			return nil, err
		}
	}
	b, err := encodeEvent(&ev)
	if err != nil {
		return nil, kafkabus.Poison(fmt.Errorf("encode event %s: %w", ev.ID, err))
	}
	return []kafka.Message{{
		Topic: e.topics.Events(), Key: []byte(ev.IncidentID), Value: b,
		Headers: []kafka.Header{{Key: "received_at", Value: []byte(ev.ReceivedAt.Format(time.RFC3339Nano))}},
	}}, nil
}

// decide normalises one record and decides its incident.
func (e *Enricher) decide(ctx context.Context, m kafka.Message) (event.Event, error) {
	ev, err := e.NormaliseRecord(m.Topic, m.Value)
	if err != nil {
		var fe intake.Errors
		if errors.As(err, &fe) {
			return ev, kafkabus.Poison(err)
		}
		return ev, err
	}
	if len(ev.References) > 0 {
		// An Update or Cancel belongs to the incident of the alert it names.
		for _, ref := range ev.References {
			inc, err := e.fuser.IncidentOf(ctx, ref)
			if err != nil {
				return ev, err
			}
			if inc != "" {
				ev.IncidentID = inc
				break
			}
		}
		return ev, nil
	}
	if q, ok := e.fuseQuery(&ev); ok {
		id, _, err := e.fuser.Fuse(ctx, q)
		if err != nil {
			return ev, err
		}
		ev.IncidentID = id
	}
	return ev, nil
}

// eventBuf holds events being encoded (encodeEvent).
var eventBuf = sync.Pool{New: func() any { return new(event.Event) }}

// encodeEvent encodes ev through a pooled copy: handed to the encoder as
// an interface, ev itself would move to the heap, some 600 bytes with
// pointers for the collector per event.
func encodeEvent(ev *event.Event) ([]byte, error) {
	p := eventBuf.Get().(*event.Event)
	*p = *ev
	b, err := wire.Marshal(p)
	*p = event.Event{}
	eventBuf.Put(p)
	return b, err
}

// fuseQuery asks for the open incident of ev's family nearby that ev
// joins (when none is, ev opens its own, ev.IncidentID); false when ev's
// family does not fuse or ev has no location.
func (e *Enricher) fuseQuery(ev *event.Event) (redisstore.FuseQuery, bool) {
	var rules *routing.Rules
	if e.rules != nil {
		rules = e.rules()
	}
	family, rule := ruleFor(ev.Category, rules)
	if ev.Location == nil || rule.RadiusM <= 0 {
		return redisstore.FuseQuery{}, false
	}
	return redisstore.FuseQuery{
		EventID: ev.ID, Family: family, Lon: ev.Location.Lon, Lat: ev.Location.Lat,
		RadiusM: rule.RadiusM, Window: rule.Window, At: ev.ReceivedAt, NewID: ev.IncidentID,
	}, true
}

// normaliseCAP turns a CAP alert into the canonical event, placed by its
// area. An alert that no longer touches the service area is poison.
func (e *Enricher) normaliseCAP(raw event.Raw) (event.Event, error) {
	alert, err := intake.ParseCAP([]byte(raw.Text))
	if err != nil {
		return event.Event{}, fmt.Errorf("normalise %s: %w", raw.ID, err)
	}
	ev := intake.CAPReport(alert, raw.ReceivedAt)
	ev.ID = raw.ID
	if (ev.Area != nil || len(ev.AreaCodes) > 0) && !PlaceArea(e.places, &ev) {
		return ev, fmt.Errorf("normalise %s: %w", raw.ID, intake.Errors{{Field: "area", Reason: "outside the service area"}})
	}
	ev.IncidentID = event.IncidentIDFor(ev.ID)
	return ev, nil
}
