package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/citybrain-ioc/citybrain/services/embedded"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/projection"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// The all-in-one process keeps its projections in the embedded Redis, in
// memory. Without a snapshot every start rebuilt them from the whole tasks
// topic, which is kept for ever: a restart took longer every day (about
// 5,700 changes a second here; docs/capacity.md). So a clean stop writes
// the store to DATA_DIR/redis.snapshot, with the projector's committed
// offsets on the tasks topic, and so does the process every
// EMBEDDED_SNAPSHOT_EVERY (an hour) while it runs; a start loads it and
// replays the topic from those offsets only (projection.Resume).
//
// The snapshot is consistent because it is copied while nothing writes the
// projections (the consumers paused, or stopped), and it stays a valid
// starting point afterwards: it holds every change below the offsets, and
// changes replayed again are applied once by their version. So after a
// crash or a power cut the next start loads the last one and replays what
// came after it.
// Anything wrong with it (unreadable, another key layout, prefix or topic,
// offsets the log does not have) is logged, the store flushed and rebuilt from the
// start, as before.

// snapshotFile is the embedded Redis's snapshot under DATA_DIR.
const snapshotFile = "redis.snapshot"

// snapshotMeta is what a snapshot says about itself.
type snapshotMeta struct {
	Layout string        `json:"layout"` // redisstore.Layout: the keys' shape
	Prefix string        `json:"prefix"` // REDIS_PREFIX
	Topic  string        `json:"topic"`  // the tasks topic
	From   map[int]int64 `json:"from"`   // the projector's committed offsets: where the replay starts
	End    map[int]int64 `json:"end"`    // the topic's end offsets when saved: the log must still reach them
}

func (d *Deps) snapshotPath() string { return filepath.Join(d.Cfg.DataDir, snapshotFile) }

// snapshotMetrics are the embedded Redis's snapshot's Prometheus metrics.
type snapshotMetrics struct {
	last     prometheus.Gauge
	pause    prometheus.Gauge
	keys     prometheus.Gauge
	failures prometheus.Counter
}

func newSnapshotMetrics(reg prometheus.Registerer) *snapshotMetrics {
	m := &snapshotMetrics{
		last: prometheus.NewGauge(prometheus.GaugeOpts{Name: "citybrain_snapshot_last_success_timestamp_seconds",
			Help: "When the embedded Redis's last snapshot was written (all-in-one; Unix time). A start after a crash replays the tasks topic from there."}),
		pause: prometheus.NewGauge(prometheus.GaugeOpts{Name: "citybrain_snapshot_pause_seconds",
			Help: "How long the consumers were paused while the last snapshot copied the store."}),
		keys: prometheus.NewGauge(prometheus.GaugeOpts{Name: "citybrain_snapshot_keys", Help: "Keys in the last snapshot."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "citybrain_snapshot_failures_total",
			Help: "Snapshots of the embedded Redis that failed (the log says why)."}),
	}
	reg.MustRegister(m.last, m.pause, m.keys, m.failures)
	return m
}

// errUnchanged: the projections have not changed since the last snapshot.
var errUnchanged = errors.New("unchanged since the last snapshot")

// snapshot writes the embedded Redis's snapshot. It copies the store with
// every consumer paused between two batches and the read model's pruning
// between two passes (gate held for writing: they hold it for reading,
// kafkabus.ConsumerConfig.Gate), so the copy holds the projections exactly
// as of the projector's committed offsets or later; it writes the file
// after letting them go. With last (the offsets of the snapshot before),
// an unchanged store is not written again (errUnchanged). It returns the
// offsets the snapshot starts the next replay from.
func (d *Deps) snapshot(ctx context.Context, gate *sync.RWMutex, last map[int]int64) (map[int]int64, error) {
	if d.embeddedRedis == nil || d.Cfg.DataDir == "" {
		return nil, nil
	}
	from, err := d.writeSnapshot(ctx, gate, last)
	if m := d.snapMetrics; m != nil && err != nil && !errors.Is(err, errUnchanged) {
		m.failures.Inc()
	}
	return from, err
}

func (d *Deps) writeSnapshot(ctx context.Context, gate *sync.RWMutex, last map[int]int64) (map[int]int64, error) {
	start := time.Now()
	topic := d.Topics.Tasks()
	gate.Lock()
	paused := time.Now()
	snap, from, err := func() (*embedded.Snapshot, map[int]int64, error) {
		defer gate.Unlock()
		if built, err := d.Store.Built(ctx); err != nil {
			return nil, nil, err
		} else if !built {
			return nil, nil, errors.New("the projections are not built (yet): no snapshot")
		}
		from, err := kafkabus.Committed(ctx, d.Brokers, d.Topics.Prefix+groupProjector, topic)
		if err != nil {
			return nil, nil, err
		}
		if last != nil && maps.Equal(from, last) {
			return nil, from, errUnchanged
		}
		snap, err := d.embeddedRedis.Copy(d.Store.Snapshotted)
		return snap, from, err
	}()
	pause := time.Since(paused)
	if err != nil {
		return from, err
	}
	end := map[int]int64{}
	for p := range from {
		_, last, err := kafkabus.Offsets(ctx, d.Brokers, topic, p)
		if err != nil {
			return nil, err
		}
		end[p] = last
	}
	meta, _ := json.Marshal(snapshotMeta{Layout: redisstore.Layout, Prefix: d.Cfg.RedisPrefix, Topic: topic, From: from, End: end})
	if err := snap.Write(d.snapshotPath(), meta); err != nil {
		return nil, err
	}
	if m := d.snapMetrics; m != nil {
		m.last.SetToCurrentTime()
		m.pause.Set(pause.Seconds())
		m.keys.Set(float64(snap.Len()))
	}
	d.Log.Info("embedded redis: snapshot written", "file", d.snapshotPath(), "keys", snap.Len(), "tasks_from", from,
		"consumers_paused", pause.Round(time.Millisecond).String(), "took", time.Since(start).Round(time.Millisecond).String())
	return from, nil
}

// snapshotEvery writes a snapshot every EMBEDDED_SNAPSHOT_EVERY while
// the projections change, until ctx ends.
func (d *Deps) snapshotEvery(ctx context.Context, gate *sync.RWMutex) {
	every := d.Cfg.EmbeddedSnapshotEvery
	if d.embeddedRedis == nil || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last map[int]int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		from, err := d.snapshot(ctx, gate, last)
		switch {
		case err == nil:
			last = from
		case errors.Is(err, errUnchanged), ctx.Err() != nil:
		default:
			d.Log.Warn("embedded redis: snapshot failed, trying again in "+every.String(), "err", err)
		}
	}
}

// restoreSnapshot loads the embedded Redis's snapshot, if there is one,
// and brings it up to date from the tasks topic; the store is then built.
// Whatever goes wrong leaves an empty store, for the rebuild from the
// start that follows (projection.EnsureBuilt).
func (d *Deps) restoreSnapshot(ctx context.Context, keep time.Duration) {
	if d.embeddedRedis == nil || d.Cfg.DataDir == "" {
		return
	}
	start := time.Now()
	raw, savedAt, keys, err := d.embeddedRedis.Load(d.snapshotPath())
	if errors.Is(err, embedded.ErrNoSnapshot) {
		return
	}
	var n int
	if err == nil {
		n, err = d.resume(ctx, raw, keep)
	}
	if err != nil {
		d.Log.Warn("embedded redis: snapshot not used, rebuilding the projections from the start of the tasks topic", "file", d.snapshotPath(), "err", err)
		if err := d.Store.Flush(ctx); err != nil {
			d.Log.Error("embedded redis: flush after the snapshot failed", "err", err)
		}
		return
	}
	d.Log.Info("projections restored from the snapshot and the tasks topic after it", "file", d.snapshotPath(), "saved_at", savedAt.Format(time.RFC3339),
		"keys", keys, "records_replayed", n, "took", time.Since(start).Round(time.Millisecond).String())
}

// resume checks a loaded snapshot's meta and replays the tasks topic after it.
func (d *Deps) resume(ctx context.Context, raw []byte, keep time.Duration) (int, error) {
	var m snapshotMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, fmt.Errorf("snapshot meta: %w", err)
	}
	topic := d.Topics.Tasks()
	if m.Layout != redisstore.Layout {
		return 0, fmt.Errorf("the snapshot's keys are of layout %q, this version writes %q", m.Layout, redisstore.Layout)
	}
	if m.Prefix != d.Cfg.RedisPrefix || m.Topic != topic {
		return 0, fmt.Errorf("the snapshot is of prefix %q and topic %s, this process uses %q and %s", m.Prefix, m.Topic, d.Cfg.RedisPrefix, topic)
	}
	for p, e := range m.End {
		if _, last, err := kafkabus.Offsets(ctx, d.Brokers, topic, p); err != nil || last < e {
			return 0, fmt.Errorf("%w: %s/%d ended at %d when the snapshot was saved, now at %d (%v)", projection.ErrNotResumable, topic, p, e, last, err)
		}
	}
	return projection.Resume(ctx, d.Store, d.Brokers, topic, m.From, keep, d.Log)
}
