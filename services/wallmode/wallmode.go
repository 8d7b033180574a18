// Package wallmode decides the wall's mode: normal, or emergency (战时) for
// one incident.
//
// A person (dispatcher, admin) sets it through PUT /api/v1/wall/mode; the
// projector switches it automatically (Observe) when an incident of
// severity I or II opens — which includes a red warning: CAP severity
// Extreme is our severity 1 — while the wall is in normal mode, and back to
// normal when that incident ends (closed, rejected, merged), unless a person
// has taken over meanwhile (a manual mode stays until a person changes it).
// A person who returns the wall to normal holds the automatic switch off for
// AutoHold: in that time only a severity I incident or a red warning takes
// the wall over again (a county sees several severity II incidents a day;
// a wall that a dispatcher has just handed back should not bounce).
//
// Where it lives: beside the projection, right after a lifecycle change is
// applied to it — by the dispatcher (which applies its own changes at once,
// read-your-writes) or by the projector, whichever applies it first. The
// rule runs only for a change that was newly applied (Apply reports it;
// a redelivered or replayed record is not new), in the order of the
// incident's partition, so replaying the topic after a crash does not flap
// the mode. The decision itself is one atomic compare-and-set
// in Redis (redisstore.ChangeWallMode), so two projector instances cannot
// both open an emergency.
//
// What survives a rebuild: every change (manual or automatic) is published
// to the wallmode topic (key "wall": one partition, in order) and kept in a
// short log in Redis; after the projections are rebuilt from the tasks
// topic, Restore sets the mode to the last record of that topic. During the
// rebuild itself the automatic rule does not run (it would replay history
// across partitions in an order that is not the original one).
package wallmode

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// Publisher publishes records; kafkabus.Producer is one.
type Publisher interface {
	Publish(ctx context.Context, msgs ...kafka.Message) error
}

// AutoHold is how long a person's return to normal holds off the automatic
// switch for severity II incidents.
const AutoHold = 10 * time.Minute

// Key is the record key of every mode change (one partition: one order).
const Key = "wall"

// Keeper changes the mode and records every change.
type Keeper struct {
	store *redisstore.Store
	pub   Publisher
	topic string
}

// New returns a keeper that records changes to topic (the wallmode topic).
func New(store *redisstore.Store, pub Publisher, topic string) *Keeper {
	return &Keeper{store: store, pub: pub, topic: topic}
}

// Triggers reports whether a newly applied lifecycle change switches a
// normal wall to emergency: an incident opens (its first version) with
// severity I or II, or a warning is updated to red (a CAP Update that makes
// an open incident severity 1: "a red warning arrives").
func Triggers(lc event.Lifecycle) bool {
	inc := &lc.Incident
	if !inc.State.Open() {
		return false
	}
	if lc.Version == 1 {
		return inc.Severity >= 1 && inc.Severity <= 2
	}
	return lc.Report != nil && lc.Report.Kind == "Update" && inc.Severity == 1
}

var roman = [...]string{"", "I", "II", "III", "IV"}

// Observe applies the automatic rule to a lifecycle change the projector has
// just applied (not to one applied before).
func (k *Keeper) Observe(ctx context.Context, lc event.Lifecycle) error {
	inc := &lc.Incident
	switch {
	case Triggers(lc):
		m := redisstore.WallMode{Mode: redisstore.ModeEmergency, IncidentID: lc.IncidentID, By: "system", Auto: true, Since: lc.At.UTC(),
			Reason: fmt.Sprintf("自动：%s级事件「%s」", roman[inc.Severity], inc.Title), Overrides: inc.Severity == 1}
		return k.change(ctx, redisstore.ModeOpen, m, "")
	case !inc.State.Open():
		m := redisstore.WallMode{Mode: redisstore.ModeNormal, By: "system", Auto: true, Since: lc.At.UTC(),
			Reason: fmt.Sprintf("自动：事件「%s」已结束", inc.Title)}
		return k.change(ctx, redisstore.ModeClose, m, lc.IncidentID)
	}
	return nil
}

// Set is a person's change: recorded first, then applied. A return to
// normal holds the automatic switch off for AutoHold (see the package doc).
func (k *Keeper) Set(ctx context.Context, m redisstore.WallMode) error {
	if m.Mode == redisstore.ModeNormal && !m.Auto && m.HoldUntil.IsZero() {
		since := m.Since
		if since.IsZero() {
			since = time.Now()
		}
		m.HoldUntil = since.Add(AutoHold).UTC()
	}
	if err := k.publish(ctx, m); err != nil {
		return err
	}
	_, err := k.store.ChangeWallMode(ctx, redisstore.ModeSet, m, "")
	return err
}

// change applies an automatic change and records it when it happened.
func (k *Keeper) change(ctx context.Context, op string, m redisstore.WallMode, ended string) error {
	ok, err := k.store.ChangeWallMode(ctx, op, m, ended)
	if err != nil || !ok {
		return err
	}
	return k.publish(ctx, m)
}

func (k *Keeper) publish(ctx context.Context, m redisstore.WallMode) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := k.pub.Publish(ctx, kafka.Message{Topic: k.topic, Key: []byte(Key), Value: b, Time: time.Now()}); err != nil {
		return fmt.Errorf("record wall mode: %w", err)
	}
	return nil
}

// Restore sets the mode to the last record of topic (after a rebuild). An
// empty or missing topic leaves the mode normal.
func Restore(ctx context.Context, store *redisstore.Store, brokers []string, topic string) error {
	m, found, err := Last(ctx, brokers, topic)
	if err != nil || !found {
		return err
	}
	_, err = store.ChangeWallMode(ctx, redisstore.ModeSet, m, "")
	return err
}

// Last reads the newest record of topic (the latest of each partition's
// last record, by time).
func Last(ctx context.Context, brokers []string, topic string) (redisstore.WallMode, bool, error) {
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return redisstore.WallMode{}, false, fmt.Errorf("wall mode: %w", err)
	}
	parts, err := conn.ReadPartitions(topic)
	_ = conn.Close()
	if err != nil {
		return redisstore.WallMode{}, false, nil // no topic yet: nothing to restore
	}
	var best redisstore.WallMode
	found := false
	for _, p := range parts {
		m, ok, err := lastOf(ctx, brokers, topic, p.ID)
		if err != nil {
			return best, false, err
		}
		if ok && (!found || m.Since.After(best.Since)) {
			best, found = m, true
		}
	}
	return best, found, nil
}

func lastOf(ctx context.Context, brokers []string, topic string, partition int) (redisstore.WallMode, bool, error) {
	var m redisstore.WallMode
	first, last, err := kafkabus.Offsets(ctx, brokers, topic, partition)
	if err != nil {
		return m, false, fmt.Errorf("wall mode: %w", err)
	}
	if last <= first {
		return m, false, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, MaxWait: 200 * time.Millisecond})
	defer func() { _ = r.Close() }()
	if err := r.SetOffset(last - 1); err != nil {
		return m, false, err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := r.FetchMessage(rctx)
	if err != nil {
		return m, false, fmt.Errorf("wall mode %s/%d at %d: %w", topic, partition, last-1, err)
	}
	if err := json.Unmarshal(msg.Value, &m); err != nil || (m.Mode != redisstore.ModeNormal && m.Mode != redisstore.ModeEmergency) {
		return m, false, nil // not a mode: nothing to restore from it
	}
	return m, true, nil
}
