package dispatch

import (
	"context"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// batch is what the dispatcher decided in one consumer batch and has not
// yet made visible in the projection: the records to publish, and an
// overlay of the incidents, cases, event→incident links and command
// results they change, so that a later record of the same incident in the
// same batch reads the state after the earlier ones. The consumer
// publishes the records, then Flush applies the rest.
type batch struct {
	state     State
	out       []kafka.Message
	incidents map[string]event.Incident
	cases     map[string][]byte
	evinc     map[string]string
	reports   map[string]event.Event // by incident id + "/" + event id
	results   map[string][]byte
	apply     []event.Lifecycle
	refusals  []event.Lifecycle
	observe   func(context.Context, event.Lifecycle) // on each change newly applied (the wall's mode); may be nil
	order     []string                               // result ids in decision order
	// What Prepare read and decoded ahead (nil and empty without it): the
	// state before the batch, under the overlay above.
	pre     *redisstore.Prefetched
	decoded kafkabus.Decoded[event.Event]
}

func newBatch(state State) *batch {
	return &batch{state: state, incidents: map[string]event.Incident{}, cases: map[string][]byte{}, evinc: map[string]string{}, reports: map[string]event.Event{}, results: map[string][]byte{},
		decoded: kafkabus.Decoded[event.Event]{}}
}

// takeDecoded returns the event Prepare decoded from m, once.
func (b *batch) takeDecoded(m kafka.Message) (event.Event, bool) {
	return b.decoded.Take(m)
}

func (b *batch) Incident(ctx context.Context, id string) (event.Incident, error) {
	if inc, ok := b.incidents[id]; ok {
		return inc, nil
	}
	if inc, ok, err := b.pre.Incident(id); ok {
		return inc, err
	}
	return b.state.Incident(ctx, id)
}

func (b *batch) Case(ctx context.Context, id string) ([]byte, int, error) {
	if c, ok := b.cases[id]; ok {
		return c, b.incidents[id].Version, nil
	}
	if c, v, ok, err := b.pre.Case(id); ok {
		return c, v, err
	}
	return b.state.Case(ctx, id)
}

func (b *batch) IncidentOf(ctx context.Context, eventID string) (string, error) {
	if id, ok := b.evinc[eventID]; ok {
		return id, nil
	}
	if id, ok := b.pre.IncidentOf(eventID); ok {
		return id, nil
	}
	return b.state.IncidentOf(ctx, eventID)
}

func (b *batch) Report(ctx context.Context, incidentID, eventID string) (event.Event, error) {
	if ev, ok := b.reports[incidentID+"/"+eventID]; ok {
		return ev, nil
	}
	return b.state.Report(ctx, incidentID, eventID)
}

func (b *batch) Result(ctx context.Context, commandID string) ([]byte, error) {
	if r, ok := b.results[commandID]; ok {
		return r, nil
	}
	return b.state.Result(ctx, commandID)
}

// emit records applied lifecycle events: to publish, to apply, and in the
// overlay.
func (b *batch) emit(topic string, headers []kafka.Header, lcs ...event.Lifecycle) error {
	for _, lc := range lcs {
		v, err := wire.Marshal(lc)
		if err != nil {
			return err
		}
		b.out = append(b.out, kafka.Message{Topic: topic, Key: []byte(lc.IncidentID), Value: v, Headers: headers})
		b.apply = append(b.apply, lc)
		b.incidents[lc.IncidentID] = lc.Incident
		if len(lc.Case) > 0 {
			b.cases[lc.IncidentID] = lc.Case
		}
		if lc.EventID != "" {
			b.evinc[lc.EventID] = lc.IncidentID
		}
		if lc.Report != nil {
			b.reports[lc.IncidentID+"/"+lc.Report.ID] = *lc.Report
		}
	}
	return nil
}

// refuse records a refused command for the audit trail.
func (b *batch) refuse(topic string, lc event.Lifecycle) error {
	v, err := wire.Marshal(lc)
	if err != nil {
		return err
	}
	b.out = append(b.out, kafka.Message{Topic: topic, Key: []byte(lc.IncidentID), Value: v})
	b.refusals = append(b.refusals, lc)
	return nil
}

func (b *batch) result(r Result) {
	v, _ := wire.Marshal(r)
	if _, ok := b.results[r.CommandID]; !ok {
		b.order = append(b.order, r.CommandID)
	}
	b.results[r.CommandID] = v
}

// flush applies the batch to the projection after its records were
// published: lifecycle events in order, refusals, then the command results
// (last, so an API waiting on a result reads the incident after it).
func (b *batch) flush(ctx context.Context) error {
	changed, err := b.state.ApplyAll(ctx, b.apply)
	if b.observe != nil {
		for i, ok := range changed { // those applied, also when a later call failed
			if ok {
				b.observe(ctx, b.apply[i])
			}
		}
	}
	if err != nil {
		return err
	}
	for _, lc := range b.refusals {
		if err := b.state.RecordRefusal(ctx, lc); err != nil {
			return err
		}
	}
	for _, id := range b.order {
		if err := b.state.SetResult(ctx, id, b.results[id]); err != nil {
			return err
		}
	}
	return nil
}
