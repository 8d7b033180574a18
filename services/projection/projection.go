// Package projection keeps the Redis read models in step with the tasks
// topic: a consumer applies each lifecycle event, and Rebuild replays the
// whole topic into an empty store. Both use the same idempotent Apply, so a
// rebuilt projection equals the one kept live.
package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/wallmode"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// Projector applies lifecycle events to the store.
type Projector struct {
	store *redisstore.Store
	log   *slog.Logger
	modes *wallmode.Keeper // the wall's automatic mode; nil: none

	// What Prepare read for the batch being processed.
	stored  map[string]int // incident id → its stored version then
	decoded kafkabus.Decoded[event.Lifecycle]
}

// WithModes makes the projector apply the wall's automatic mode rule to
// every change it newly applies (package wallmode) and returns p.
func (p *Projector) WithModes(k *wallmode.Keeper) *Projector {
	p.modes = k
	return p
}

// New returns a projector.
func New(store *redisstore.Store, log *slog.Logger) *Projector {
	return &Projector{store: store, log: log}
}

// Prepare reads the stored versions of the batch's incidents in one round
// trip (kafkabus.Preparer): most changes the projector consumes the
// dispatcher has applied already, and where it read each incident's
// version in a round trip of its own, one read serves the batch. It keeps
// the records it decoded for Process.
func (p *Projector) Prepare(ctx context.Context, batch []kafka.Message) {
	p.stored, p.decoded = nil, make(kafkabus.Decoded[event.Lifecycle], len(batch))
	ids := make([]string, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, m := range batch {
		var lc event.Lifecycle
		if wire.Unmarshal(m.Value, &lc) != nil {
			continue // Process refuses it
		}
		p.decoded.Put(m, lc)
		if !seen[lc.IncidentID] {
			seen[lc.IncidentID] = true
			ids = append(ids, lc.IncidentID)
		}
	}
	if stored, err := p.store.Versions(ctx, ids); err == nil {
		p.stored = stored // else Process reads each version itself
	}
}

// Process is the consumer's processor for the tasks topic (Handle, with
// what Prepare read).
func (p *Projector) Process(ctx context.Context, m kafka.Message) ([]kafka.Message, error) {
	return nil, p.Handle(ctx, m)
}

// Flush has nothing to do: every change is written as it is processed.
func (p *Projector) Flush(context.Context) error { return nil }

// Handle is the consumer handler for the tasks topic.
func (p *Projector) Handle(ctx context.Context, m kafka.Message) error {
	lc, ok := p.decoded.Take(m)
	if !ok {
		if err := wire.Unmarshal(m.Value, &lc); err != nil {
			return kafkabus.Poison(fmt.Errorf("decode lifecycle: %w", err))
		}
	}
	if lc.Schema != event.Schema || lc.IncidentID == "" || lc.Version < 1 {
		return kafkabus.Poison(fmt.Errorf("lifecycle %q: bad schema, id or version", lc.ID))
	}
	if lc.Outcome == "refused" {
		return p.store.RecordRefusal(ctx, lc) // audit only: nothing changed
	}
	var changed bool
	var err error
	switch stored, ok := p.stored[lc.IncidentID]; {
	case ok && stored >= lc.Version:
		// Applied before the batch began (versions only grow).
		changed, err = p.store.ApplySince(ctx, lc, stored)
	default:
		// Not yet when the batch began: the dispatcher publishes a batch's
		// changes just before it applies them, so look again now.
		changed, err = p.store.ApplyNew(ctx, lc)
	}
	if err != nil || !changed || p.modes == nil {
		return err
	}
	// Only a change applied now triggers the rule: a redelivered record
	// cannot flip the mode again. A failure is logged, not retried (the
	// retry would find the change applied and skip the rule anyway).
	if err := p.modes.Observe(ctx, lc); err != nil {
		p.log.Error("wall mode: automatic rule failed", "incident", lc.IncidentID, "version", lc.Version, "err", err)
	}
	return nil
}

// EnsureBuilt rebuilds the projections if the store is empty (a fresh or
// flushed Redis). Concurrent callers (several dispatcher instances) take a
// lock; the others wait for the one rebuilding. keep is the read model's
// retention (see Rebuild).
func EnsureBuilt(ctx context.Context, store *redisstore.Store, brokers []string, topic string, keep time.Duration, owner string, log *slog.Logger) error {
	for {
		built, err := store.Built(ctx)
		if err != nil {
			return fmt.Errorf("check projections: %w", err)
		}
		if built {
			return nil
		}
		ok, err := store.Lock(ctx, "rebuild", owner, rebuildLockTTL)
		if err != nil {
			return fmt.Errorf("rebuild lock: %w", err)
		}
		if ok {
			defer func() { _ = store.Unlock(context.WithoutCancel(ctx), "rebuild", owner) }()
			defer holdLock(ctx, store, "rebuild", owner, rebuildLockTTL, log)()
			n, err := Rebuild(ctx, store, brokers, topic, keep, log)
			if err != nil {
				return err
			}
			log.Info("projections rebuilt from kafka", "topic", topic, "records", n)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// rebuildLockTTL is how long the rebuild lock lasts unless its holder,
// still rebuilding, extends it (holdLock): a holder that died leaves it to
// another instance after that long.
const rebuildLockTTL = 10 * time.Minute

// holdLock extends a lock every third of its ttl until the function it
// returns is called: a rebuild of a long history outlasts the lock's ttl,
// and another instance must not start a second one meanwhile.
func holdLock(ctx context.Context, store *redisstore.Store, name, owner string, ttl time.Duration, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if ok, err := store.Extend(ctx, name, owner, ttl); err != nil || !ok {
				log.Warn("could not extend the lock held", "lock", name, "owner", owner, "held", ok, "err", err)
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// Rebuild replays every partition of topic from its first offset to the
// end seen at the start, applying each lifecycle, then marks the store
// built. It does not flush: call store.Flush first for a clean rebuild.
//
// The topic keeps every change for ever. With keep > 0 (READ_MODEL_DAYS)
// the read model holds closed incidents for keep after their last change,
// and the replay prunes as it goes, as the live system did: every
// rebuildPruneEvery records it removes the closed incidents whose last
// change is more than keep before the change just replayed, so the store
// holds about keep's worth of history at any moment of the replay, not
// the whole topic (a Redis sized for the read model does not run out of
// memory rebuilding it). The counters count pruned incidents as the live
// ones do. At the end it removes those closed more than keep before now,
// before the store is marked built, so the wall, the API and the day's
// counts never show a year of history.
func Rebuild(ctx context.Context, store *redisstore.Store, brokers []string, topic string, keep time.Duration, log *slog.Logger) (int, error) {
	return rebuild(ctx, store, brokers, topic, nil, keep, rebuildPruneEvery, nil, log)
}

// Resume is Rebuild for a store that holds the projections up to offsets
// of the topic (a snapshot of the embedded Redis, restored: from maps a
// partition to the first offset not known to be in it): it replays each
// partition from there, not from its start (a partition missing from
// from, from its start). The records it replays that the store holds
// already change nothing: every change is applied once by its version.
// An offset the partition no longer has (a snapshot of another log) is
// ErrNotResumable, before anything is written.
func Resume(ctx context.Context, store *redisstore.Store, brokers []string, topic string, from map[int]int64, keep time.Duration, log *slog.Logger) (int, error) {
	return rebuild(ctx, store, brokers, topic, from, keep, rebuildPruneEvery, nil, log)
}

// ErrNotResumable: Resume was given offsets the topic does not have.
var ErrNotResumable = errors.New("the snapshot does not match the topic")

// rebuildPruneEvery is how many records a rebuild replays between prunes.
const rebuildPruneEvery = 20000

// rebuild is Rebuild, or Resume with from (nil: every partition from its
// start), with a prune after every pruneEvery records (0: only at the
// end), and onPrune (when not nil) called after each of those.
func rebuild(ctx context.Context, store *redisstore.Store, brokers []string, topic string, from map[int]int64, keep time.Duration, pruneEvery int, onPrune func(), log *slog.Logger) (int, error) {
	parts, err := kafkabus.Partitions(ctx, brokers, topic)
	if err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	// Each partition's range to replay: from its first offset (or where
	// from says) to its end now. Offsets from does not fit are refused
	// before anything is written.
	firsts, lasts := make([]int64, len(parts)), make([]int64, len(parts))
	for i, part := range parts {
		if firsts[i], lasts[i], err = kafkabus.Offsets(ctx, brokers, topic, part); err != nil {
			return 0, fmt.Errorf("rebuild: %w", err)
		}
		if at, ok := from[part]; ok {
			if at < firsts[i] || at > lasts[i] {
				return 0, fmt.Errorf("%w: %s/%d from offset %d, the partition holds %d to %d", ErrNotResumable, topic, part, at, firsts[i], lasts[i])
			}
			firsts[i] = at
		}
	}
	for p := range from {
		if !slices.Contains(parts, p) {
			return 0, fmt.Errorf("%w: %s has no partition %d", ErrNotResumable, topic, p)
		}
	}
	progress := redisstore.RebuildProgress{Since: time.Now()}
	for i := range parts {
		progress.Total += lasts[i] - firsts[i]
	}
	rp := &replay{store: store, progress: reportProgress(ctx, store, progress, log)}
	rp.progress(0)
	// Between prunes during the replay: the closed incidents past keep at
	// the time of the change just replayed (never later than now).
	prune := func() {}
	if keep > 0 && pruneEvery > 0 {
		prune = func() {
			at := time.Now()
			if !rp.replayedAt.IsZero() && rp.replayedAt.Before(at) {
				at = rp.replayedAt
			}
			pruneClosed(ctx, store, at.Add(-keep), log)
			if onPrune != nil {
				onPrune()
			}
		}
	}
	total := 0
	for i, part := range parts {
		n, err := replayPartition(ctx, brokers, topic, part, firsts[i], lasts[i], rp, pruneEvery, prune)
		if err != nil {
			return total, err
		}
		total += n
	}
	// The wall's mode is not in the tasks topic: it comes back from the
	// last record of the wallmode topic (its name derived from the tasks
	// topic's prefix).
	modes := kafkabus.Topics{Prefix: strings.TrimSuffix(topic, "tasks")}.WallMode()
	if err := wallmode.Restore(ctx, store, brokers, modes); err != nil {
		return total, fmt.Errorf("rebuild: %w", err)
	}
	if keep > 0 {
		pruneClosed(ctx, store, time.Now().Add(-keep), log)
	}
	if err := store.SetBuilt(ctx); err != nil {
		return total, fmt.Errorf("rebuild: %w", err)
	}
	return total, nil
}

// progressEvery is how many records a rebuild replays between two writes
// of its progress (redisstore.RebuildProgress); progressLogEvery, how
// often at most it logs it.
var progressEvery int64 = 5000

const progressLogEvery = 10 * time.Second

// reportProgress returns what a replay calls with the records it has
// replayed: it writes the progress to the store (for every process that
// answers while the projections are rebuilt) and logs it now and then. A
// failed write is logged, not fatal: the rebuild matters more than its
// progress.
func reportProgress(ctx context.Context, store *redisstore.Store, p redisstore.RebuildProgress, log *slog.Logger) func(done int64) {
	var logged time.Time
	return func(done int64) {
		p.Done = done
		if err := store.SetRebuildProgress(ctx, p); err != nil && ctx.Err() == nil {
			log.Warn("rebuild: could not record its progress", "err", err)
		}
		if p.Total >= progressEvery && time.Since(logged) >= progressLogEvery {
			logged = time.Now()
			log.Info("rebuilding the projections from kafka", "records", done, "of", p.Total, "percent", p.Percent())
		}
	}
}

// pruneClosed removes every closed incident last changed before cutoff, in
// passes of pruneMax. A failure is logged and left to the periodic pass
// (Prune): not worth replaying the topic again.
func pruneClosed(ctx context.Context, store *redisstore.Store, cutoff time.Time, log *slog.Logger) {
	for {
		n, err := store.PruneClosed(ctx, cutoff, pruneMax)
		if err != nil {
			log.Warn("rebuild: pruning closed incidents failed, left to the next pass", "removed", n, "err", err)
			return
		}
		if n > 0 {
			log.Info("rebuild: closed incidents past the read model's retention removed", "removed", n, "closed_before", cutoff.Format(time.DateOnly))
		}
		if n < pruneMax {
			return
		}
	}
}

// replayPartition applies the records of one partition from first up to
// last (its end when the rebuild began), and calls prune after every
// pruneEvery records.
func replayPartition(ctx context.Context, brokers []string, topic string, partition int, first, last int64, rp *replay, pruneEvery int, prune func()) (int, error) {
	if last <= first {
		return 0, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, Partition: partition, MaxBytes: 16 << 20, MaxWait: 200 * time.Millisecond,
	})
	defer func() { _ = r.Close() }()
	if err := r.SetOffset(first); err != nil {
		return 0, err
	}
	n := 0
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			_ = rp.wait() // nothing left running behind the caller
			return n, fmt.Errorf("rebuild %s/%d at %d: %w", topic, partition, first+int64(n), err)
		}
		if err := rp.add(ctx, m); err != nil {
			return n, err
		}
		n++
		if m.Offset >= last-1 {
			return n, rp.flush(ctx)
		}
		if pruneEvery > 0 && n%pruneEvery == 0 {
			if err := rp.flush(ctx); err != nil {
				return n, err
			}
			prune()
		}
	}
}

// replayBatch is how many changes a replay applies at a time: the apply
// script takes them ApplyBatch at a time, and on the embedded Redis every
// script call costs a Lua state of its own (one call per change made a
// replay several times slower; `go test -bench Rebuild ./services/projection`).
var replayBatch = 1000

// replay applies the topic's records in order, in batches. A full batch
// is applied in the background while the next one is read and decoded
// (one at a time, in order): the replay's two halves, decoding records
// and the store's scripts, then run on two cores.
type replay struct {
	store      *redisstore.Store
	pending    []event.Lifecycle
	replayedAt time.Time   // the time of the last change replayed
	applying   chan error  // the batch being applied; nil: none
	taken      int64       // records taken so far
	progress   func(int64) // called with taken every progressEvery records
}

// add takes the next record: a change joins the batch; a refused command
// (audit only) is written in its place after the changes before it.
// Records that do not decode are skipped, as the consumer skips them.
func (r *replay) add(ctx context.Context, m kafka.Message) error {
	if r.taken++; r.taken%progressEvery == 0 && r.progress != nil {
		r.progress(r.taken)
	}
	var lc event.Lifecycle
	if err := wire.Unmarshal(m.Value, &lc); err != nil || lc.Schema != event.Schema || lc.IncidentID == "" || lc.Version < 1 {
		return nil
	}
	if lc.Outcome == "refused" {
		if err := r.flush(ctx); err != nil {
			return err
		}
		return r.store.RecordRefusal(ctx, lc)
	}
	r.pending = append(r.pending, lc)
	r.replayedAt = lc.Incident.UpdatedAt
	if len(r.pending) >= replayBatch {
		if err := r.wait(); err != nil {
			return err
		}
		batch := r.pending
		r.pending = make([]event.Lifecycle, 0, replayBatch)
		r.applying = make(chan error, 1)
		go func(done chan<- error) {
			_, err := r.store.ApplyRebuildAll(ctx, batch)
			done <- err
		}(r.applying)
	}
	return nil
}

// wait waits for the batch being applied in the background, if any.
func (r *replay) wait() error {
	if r.applying == nil {
		return nil
	}
	err := <-r.applying
	r.applying = nil
	return err
}

// flush applies every change taken so far, and returns when they are.
func (r *replay) flush(ctx context.Context) error {
	if err := r.wait(); err != nil {
		return err
	}
	if len(r.pending) == 0 {
		return nil
	}
	_, err := r.store.ApplyRebuildAll(ctx, r.pending)
	r.pending = r.pending[:0]
	return err
}
