package projection_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/projection"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

var (
	_ kafkabus.Processor = (*projection.Projector)(nil)
	_ kafkabus.Preparer  = (*projection.Projector)(nil)
)

func change(id string, v int, state event.State, at time.Time) event.Lifecycle {
	lc := event.Lifecycle{Schema: event.Schema, ID: fmt.Sprintf("%s/%d", id, v), IncidentID: id, Version: v, To: state, At: at,
		Incident: event.Incident{ID: id, Version: v, State: state, Source: event.Hotline, UpdatedAt: at, Title: "t"}}
	if v == 1 {
		lc.EventID, lc.EventSource = "EV-"+id, event.Hotline
	}
	if v == 3 {
		lc.CommandID = "CMD-" + id // a dispatcher's command: its result is recorded
	}
	return lc
}

// A projector given each batch's versions in one read (Prepare) leaves the
// store exactly as one that reads each incident's version itself, however
// the batch mixes changes the dispatcher applied already, new ones,
// several of one incident, re-deliveries and a record that cannot be read.
func TestPrepareProjectsAsWithout(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	var lcs []event.Lifecycle
	for i := range 12 {
		id := fmt.Sprintf("INC-%02d", i)
		for v := 1; v <= 1+i%3; v++ {
			lcs = append(lcs, change(id, v, []event.State{event.Received, event.Dispatched, event.Closed}[v-1], at.Add(time.Duration(i*10+v)*time.Second)))
		}
	}
	// The dispatcher applied the first half before the projector sees them.
	applied := lcs[:len(lcs)/2]
	var msgs []kafka.Message
	for i, lc := range lcs {
		b, err := wire.Marshal(lc)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: "tasks", Offset: int64(i), Value: b})
		if i == 5 {
			msgs = append(msgs, kafka.Message{Topic: "tasks", Offset: 1000, Value: []byte("{not json")})
		}
	}
	msgs = append(msgs, msgs[3:9]...) // re-delivered

	run := func(prepare bool) (*redisstore.Store, int64) {
		s := testenv.Store(t)
		if _, err := s.ApplyAll(ctx, applied); err != nil {
			t.Fatal(err)
		}
		p := projection.New(s, log)
		for batch := range slices.Chunk(msgs, 5) {
			if prepare {
				p.Prepare(ctx, batch)
			}
			for _, m := range batch {
				_, err := p.Process(ctx, m)
				if err != nil && !errors.Is(err, kafkabus.ErrPoison) {
					t.Fatal(err)
				}
				if (err != nil) != (m.Offset == 1000) {
					t.Fatalf("record %d: %v", m.Offset, err)
				}
			}
		}
		n, err := s.Client().XLen(ctx, s.WallStream()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return s, n
	}
	with, withDeltas := run(true)
	without, withoutDeltas := run(false)
	a, b := testenv.Dump(t, ctx, with), testenv.Dump(t, ctx, without)
	if !maps.Equal(a, b) {
		for k := range maps.Keys(a) {
			if a[k] != b[k] {
				t.Errorf("%s: with Prepare %s, without %s", k, a[k], b[k])
			}
		}
		for k := range maps.Keys(b) {
			if _, ok := a[k]; !ok {
				t.Errorf("%s only without Prepare", k)
			}
		}
		t.FailNow()
	}
	if withDeltas != withoutDeltas {
		t.Fatalf("deltas: %d with Prepare, %d without", withDeltas, withoutDeltas)
	}
	for i := range 12 {
		id := fmt.Sprintf("INC-%02d", i)
		if v, err := with.Version(ctx, id); err != nil || v != 1+i%3 {
			t.Fatalf("%s at version %d (%v), want %d", id, v, err, 1+i%3)
		}
	}
	if _, err := with.Result(ctx, "CMD-INC-02"); err != nil {
		t.Fatalf("result of a command applied by the dispatcher: %v", err)
	}
}

// A rebuild from the tasks topic (which keeps every change for ever) leaves
// out the closed incidents past the read model's retention, as the pruning
// of the live store does, before the store is marked built.
func TestRebuildLeavesOutWhatPruningRemoved(t *testing.T) {
	ctx := t.Context()
	h, store := newHistory(t), testenv.Store(t)
	brokers, topics, add := h.brokers, h.topics, h.add
	now := time.Now().UTC()
	old := now.Add(-40 * 24 * time.Hour)
	add("INC-OLD-CLOSED", 1, event.Received, old)
	add("INC-OLD-CLOSED", 2, event.Dispatched, old.Add(time.Hour))
	add("INC-OLD-CLOSED", 3, event.Closed, old.Add(2*time.Hour))
	add("INC-OLD-OPEN", 1, event.Received, old) // still open: kept however old
	add("INC-NEW-CLOSED", 1, event.Received, now.Add(-time.Hour))
	add("INC-NEW-CLOSED", 2, event.Dispatched, now.Add(-time.Hour))
	add("INC-NEW-CLOSED", 3, event.Closed, now)
	add("INC-LATE-CLOSED", 1, event.Received, old) // opened long ago, closed now
	add("INC-LATE-CLOSED", 2, event.Dispatched, old)
	add("INC-LATE-CLOSED", 3, event.Closed, now)
	msgs := h.publish()
	if err := store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := projection.Rebuild(ctx, store, brokers, topics.Tasks(), 30*24*time.Hour, slog.New(slog.DiscardHandler))
	if err != nil || n != len(msgs) {
		t.Fatalf("rebuild replayed %d of %d records: %v", n, len(msgs), err)
	}
	if built, err := store.Built(ctx); err != nil || !built {
		t.Fatalf("built %v %v", built, err)
	}
	for id, want := range map[string]bool{"INC-OLD-CLOSED": false, "INC-OLD-OPEN": true, "INC-NEW-CLOSED": true, "INC-LATE-CLOSED": true} {
		_, err := store.Incident(ctx, id)
		if got := err == nil; got != want {
			t.Errorf("%s in the read model: %v (%v), want %v", id, got, err, want)
		}
	}
	if _, total, err := store.Incidents(ctx, redisstore.Query{}); err != nil || total != 3 {
		t.Fatalf("%d incidents listed (%v), want 3", total, err)
	}
}

// TestRebuildPrunesAsItGoes: with a read model retention, a rebuild prunes
// while it replays, so the store never holds the whole topic, and ends as a
// rebuild that prunes only at the end does.
func TestRebuildPrunesAsItGoes(t *testing.T) {
	ctx := t.Context()
	h := newHistory(t)
	brokers, topics, add := h.brokers, h.topics, h.add
	now := time.Now().UTC()
	// 120 days of history, one incident a day, closed two hours after it
	// was received; every tenth is left open.
	const days = 120
	for d := range days {
		at := now.Add(-time.Duration(days-d) * 24 * time.Hour)
		id := fmt.Sprintf("INC-DAY-%03d", d)
		add(id, 1, event.Received, at)
		if d%10 == 0 {
			continue
		}
		add(id, 2, event.Dispatched, at.Add(time.Hour))
		add(id, 3, event.Closed, at.Add(2*time.Hour))
		if d == 7 {
			// Called back two days after closing, within keep: not pruned in between.
			add("INC-DAY-005", 4, event.Visited, at.Add(3*time.Hour))
		}
	}
	msgs := h.publish()
	const keep = 10 * 24 * time.Hour
	log := slog.New(slog.DiscardHandler)

	atEnd := testenv.Store(t)
	if err := atEnd.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := projection.RebuildPruningEvery(ctx, atEnd, brokers, topics.Tasks(), keep, 0, nil, log); err != nil || n != len(msgs) {
		t.Fatalf("rebuild pruning at the end replayed %d of %d records: %v", n, len(msgs), err)
	}

	asItGoes := testenv.Store(t)
	if err := asItGoes.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	peak, passes := 0, 0
	onPrune := func() {
		passes++
		_, total, err := asItGoes.Incidents(ctx, redisstore.Query{})
		if err != nil {
			t.Error(err)
		}
		peak = max(peak, total)
	}
	if n, err := projection.RebuildPruningEvery(ctx, asItGoes, brokers, topics.Tasks(), keep, 10, onPrune, log); err != nil || n != len(msgs) {
		t.Fatalf("rebuild pruning as it goes replayed %d of %d records: %v", n, len(msgs), err)
	}
	if built, err := asItGoes.Built(ctx); err != nil || !built {
		t.Fatalf("built %v %v", built, err)
	}

	a, b := testenv.Dump(t, ctx, atEnd), testenv.Dump(t, ctx, asItGoes)
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if a[k] != b[k] {
			t.Errorf("%s:\n pruned at the end %s\n as it goes       %s", k, a[k], b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			t.Errorf("%s only where pruned as it goes: %s", k, b[k])
		}
	}
	_, kept, err := asItGoes.Incidents(ctx, redisstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	// Kept: the 12 left open and the ~10 closed within keep. During the
	// replay: those, the last 10 days of the partition being replayed and
	// the records since the last prune — never the whole history.
	t.Logf("%d records, %d prunes, at most %d incidents in the store during the replay, %d kept", len(msgs), passes, peak, kept)
	if passes < 10 || peak > 45 || kept < 20 || kept > 25 {
		t.Fatalf("%d prunes, at most %d incidents during the replay (of %d), %d kept", passes, peak, days, kept)
	}
}

// history is a tasks topic of a test's own (with its wall mode topic) and
// the changes to publish to it.
type history struct {
	t       testing.TB
	brokers []string
	topics  kafkabus.Topics
	msgs    []kafka.Message
}

func newHistory(t testing.TB) *history {
	h := &history{t: t, brokers: testenv.Kafka(t), topics: kafkabus.Topics{Prefix: testenv.Prefix(t)}}
	if err := kafkabus.EnsureTopics(t.Context(), h.brokers, 2, 1, []kafkabus.Spec{{Name: h.topics.Tasks()}, {Name: h.topics.WallMode()}}); err != nil {
		t.Fatal(err)
	}
	return h
}

// add appends a change of incident id to version v in state.
func (h *history) add(id string, v int, state event.State, at time.Time) {
	b, err := wire.Marshal(change(id, v, state, at))
	if err != nil {
		h.t.Fatal(err)
	}
	h.msgs = append(h.msgs, kafka.Message{Topic: h.topics.Tasks(), Key: []byte(id), Value: b})
}

// publish writes the changes added and returns them.
func (h *history) publish() []kafka.Message {
	prod := kafkabus.NewProducer(h.brokers)
	defer func() { _ = prod.Close() }()
	if err := prod.Publish(h.t.Context(), h.msgs...); err != nil {
		h.t.Fatal(err)
	}
	return h.msgs
}

// mixedHistory adds n incidents' changes as a city's tasks topic holds
// them: each received and dispatched at once, then accepted, handled and
// closed later between other incidents' changes (the closing a command:
// its result is recorded), and every tenth incident has a refused command
// in its audit trail.
func (h *history) mixedHistory(n int, t0 time.Time) {
	for i := range n {
		id := fmt.Sprintf("INC-%05d", i)
		at := t0.Add(time.Duration(i) * time.Second)
		h.add(id, 1, event.Received, at)
		h.add(id, 2, event.Dispatched, at)
		if i >= 3 {
			old := fmt.Sprintf("INC-%05d", i-3)
			h.add(old, 3, event.Closed, at)
			if i%10 == 0 {
				lc := change(old, 3, event.Closed, at)
				lc.ID, lc.CommandID, lc.Outcome, lc.Refusal = old+"/3/refused", "CMD-REFUSED-"+old, "refused", "already closed"
				b, err := wire.Marshal(lc)
				if err != nil {
					h.t.Fatal(err)
				}
				h.msgs = append(h.msgs, kafka.Message{Topic: h.topics.Tasks(), Key: []byte(old), Value: b})
			}
		}
	}
}

// A rebuild applies the topic in batches (one script call for many
// changes); the store it leaves is the one a replay of one change at a
// time leaves, refusals and command results included.
func TestRebuildInBatchesAsOneByOne(t *testing.T) {
	ctx := t.Context()
	h := newHistory(t)
	h.mixedHistory(250, time.Now().UTC().Add(-time.Hour))
	msgs := h.publish()
	log := slog.New(slog.DiscardHandler)
	rebuilt := func(batch int) map[string]string {
		defer projection.SetReplayBatch(batch)()
		st := testenv.Store(t)
		if err := st.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := projection.Rebuild(ctx, st, h.brokers, h.topics.Tasks(), 0, log); err != nil || n != len(msgs) {
			t.Fatalf("batch %d: rebuild replayed %d of %d records: %v", batch, n, len(msgs), err)
		}
		return testenv.Dump(t, ctx, st)
	}
	one, many := rebuilt(1), rebuilt(1000)
	if !strings.Contains(one["cmdres:CMD-REFUSED-INC-00007"], "refused") || !strings.Contains(one["cmdres:CMD-INC-00007"], "applied") ||
		!strings.Contains(one["tl:INC-00007"], "already closed") {
		t.Fatalf("the replay left out a refusal or a command's result: %q %q", one["cmdres:CMD-REFUSED-INC-00007"], one["tl:INC-00007"])
	}
	if fmt.Sprint(one) != fmt.Sprint(many) {
		t.Fatalf("one by one and in batches differ:\n%v\n%v", one, many)
	}
}

// Resume brings a store that holds the topic up to some offsets (a
// snapshot) up to date by replaying only what follows them, and ends as a
// rebuild of the whole topic does; offsets the topic does not have are
// refused before anything is written.
func TestResumeFromOffsets(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	h := newHistory(t)
	t0 := time.Now().UTC().Add(-time.Hour)
	h.mixedHistory(60, t0)
	h.publish()
	snap := testenv.Store(t)
	if err := snap.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := projection.Rebuild(ctx, snap, h.brokers, h.topics.Tasks(), 0, log); err != nil {
		t.Fatal(err)
	}
	from := map[int]int64{}
	for p := range 2 {
		_, end, err := kafkabus.Offsets(ctx, h.brokers, h.topics.Tasks(), p)
		if err != nil {
			t.Fatal(err)
		}
		from[p] = end
	}
	// Later changes: new incidents, and three of the last ones verified,
	// each change sent several times (applied once).
	h.msgs = nil
	for i := range 20 {
		id := fmt.Sprintf("INC-%05d", 100+i)
		h.add(id, 1, event.Received, t0.Add(time.Minute))
		h.add(fmt.Sprintf("INC-%05d", 57+i%3), 4, event.Verified, t0.Add(time.Minute))
	}
	h.publish()

	if _, err := projection.Resume(ctx, snap, h.brokers, h.topics.Tasks(), map[int]int64{0: from[0] + 1000}, 0, log); !errors.Is(err, projection.ErrNotResumable) {
		t.Fatalf("an offset past the end: %v", err)
	}
	if _, err := projection.Resume(ctx, snap, h.brokers, h.topics.Tasks(), map[int]int64{7: 0}, 0, log); !errors.Is(err, projection.ErrNotResumable) {
		t.Fatalf("a partition the topic has not: %v", err)
	}
	n, err := projection.Resume(ctx, snap, h.brokers, h.topics.Tasks(), from, 0, log)
	if err != nil || n != 40 {
		t.Fatalf("resumed with %d records (%v), want the 40 after the offsets", n, err)
	}
	whole := testenv.Store(t)
	if err := whole.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := projection.Rebuild(ctx, whole, h.brokers, h.topics.Tasks(), 0, log); err != nil {
		t.Fatal(err)
	}
	if a, b := testenv.Dump(t, ctx, snap), testenv.Dump(t, ctx, whole); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("resumed and rebuilt differ:\n%v\n%v", a, b)
	}
	if built, err := snap.Built(ctx); err != nil || !built {
		t.Fatalf("resumed store not built: %v %v", built, err)
	}
}

// A rebuild records how far it has come, for the processes that answer
// while it runs (the API's 503 says so, the UI shows it), and drops it when
// the store is built.
func TestRebuildRecordsItsProgress(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	h := newHistory(t)
	h.mixedHistory(60, time.Now().UTC().Add(-time.Hour))
	h.publish()
	var total int64
	for p := range 2 {
		first, end, err := kafkabus.Offsets(ctx, h.brokers, h.topics.Tasks(), p)
		if err != nil {
			t.Fatal(err)
		}
		total += end - first
	}
	defer projection.SetProgressEvery(10)()
	store := testenv.Store(t)
	if err := store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var seen []int64
	onPrune := func() { // every 20 records of a partition, mid-rebuild
		busy, prog, err := store.Restoring(ctx)
		if err != nil || !busy || prog == nil {
			t.Fatalf("mid-rebuild: restoring %v, progress %v (%v)", busy, prog, err)
		}
		if prog.Total != total || prog.Done <= 0 || prog.Done > total || prog.Done%10 != 0 || time.Since(prog.Since) > time.Minute {
			t.Errorf("mid-rebuild progress %+v, want 10s of the %d records", *prog, total)
		}
		seen = append(seen, prog.Done)
	}
	n, err := projection.RebuildPruningEvery(ctx, store, h.brokers, h.topics.Tasks(), 24*time.Hour, 20, onPrune, log)
	if err != nil || int64(n) != total {
		t.Fatalf("rebuilt %d of %d records: %v", n, total, err)
	}
	if len(seen) < 2 || !slices.IsSorted(seen) {
		t.Errorf("progress seen mid-rebuild: %v, want it growing", seen)
	}
	if busy, prog, err := store.Restoring(ctx); busy || prog != nil || err != nil {
		t.Errorf("once built: restoring %v, progress %v (%v)", busy, prog, err)
	}
}
