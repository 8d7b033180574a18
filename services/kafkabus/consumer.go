package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// ErrPoison marks a record that can never be handled (bad bytes, unknown
// schema): it goes to the dead-letter topic at once, without retries.
var ErrPoison = errors.New("poison record")

// Poison wraps err so that errors.Is(err, ErrPoison) holds.
func Poison(err error) error { return fmt.Errorf("%w: %w", ErrPoison, err) }

// Handler handles one record. It must be idempotent: after a crash or a
// rebalance a record may be delivered again.
type Handler func(ctx context.Context, m kafka.Message) error

// ConsumerConfig configures a consumer group member.
type ConsumerConfig struct {
	Brokers []string
	GroupID string
	Topics  []string
	// Attempts is how often a failing record is tried before it goes to the
	// DLQ (default 5), with exponential backoff from 100 ms.
	Attempts int
	// StartLast makes a new group start at the end of the log instead of
	// the beginning (the realtime gateway wants only what is new).
	StartLast bool
	// Healthy checks the servers the processor depends on; while it fails,
	// a failing record is retried instead of dead-lettered. Nil: always
	// healthy.
	Healthy func(ctx context.Context) error
	// Gate, when set, is held for reading while a batch is processed,
	// published and committed: whoever holds it for writing has every
	// consumer sharing it paused between two batches (the all-in-one
	// process's snapshot of its embedded Redis). Nil: no gate.
	Gate *sync.RWMutex
}

// Consumer is one member of a consumer group: fetch → handle → commit.
type Consumer struct {
	cfg   ConsumerConfig
	r     *kafka.Reader
	dlq   *Producer
	dlqTo string
	log   *slog.Logger
	m     *Metrics

	progress atomic.Int64 // unix nanoseconds of the last commit
	lag      atomic.Int64
}

// StallAfter is how long a consumer may make no progress while records
// wait before Stalled reports it (RELIABILITY.md: readers can stall after a
// broker restart).
const StallAfter = time.Minute

// Stalled reports whether records are waiting (lag > 0) and nothing was
// committed for StallAfter; /readyz turns unready then.
func (c *Consumer) Stalled() bool {
	last := time.Unix(0, c.progress.Load())
	return c.lag.Load() > 0 && time.Since(last) > StallAfter
}

// Group is the consumer group id.
func (c *Consumer) Group() string { return c.cfg.GroupID }

// NewConsumer creates the group member. Records that fail are published to
// dlqTopic through dlq with their origin in headers.
func NewConsumer(cfg ConsumerConfig, dlq *Producer, dlqTopic string, m *Metrics, log *slog.Logger) *Consumer {
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	start := kafka.FirstOffset
	if cfg.StartLast {
		start = kafka.LastOffset
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:                cfg.Brokers,
		GroupID:                cfg.GroupID,
		GroupTopics:            cfg.Topics,
		MinBytes:               1,
		MaxBytes:               8 << 20,
		MaxWait:                250 * time.Millisecond,
		ReadBatchTimeout:       250 * time.Millisecond,
		CommitInterval:         200 * time.Millisecond, // commits are still only of handled records
		HeartbeatInterval:      time.Second,
		SessionTimeout:         10 * time.Second,
		RebalanceTimeout:       10 * time.Second,
		JoinGroupBackoff:       500 * time.Millisecond,
		StartOffset:            start,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
	})
	return &Consumer{cfg: cfg, r: r, dlq: dlq, dlqTo: dlqTopic, log: log.With("group", cfg.GroupID), m: m}
}

// Processor handles records in batches. Process decides one record and
// returns the records to publish for it (none is fine); it may keep state
// for the rest of the batch, since records of one key arrive in order.
// After the outputs of a batch are published, Flush makes the batch's other
// side effects (e.g. projections) and clears that state. Both must be
// idempotent: after a crash a batch may be delivered again.
type Processor interface {
	Process(ctx context.Context, m kafka.Message) ([]kafka.Message, error)
	Flush(ctx context.Context) error
}

// Preparer is implemented by a Processor that can do part of the work for a
// whole batch at once (one round trip to Redis for the batch instead of
// one per record). The consumer calls Prepare before Process is called for
// the batch's records (again after a Guard's Reset). What Prepare computes
// is only a head start: Process must give the same result for a record
// whether or not Prepare ran or succeeded (it does the work itself for a
// record Prepare left out), so Prepare reports no error.
type Preparer interface {
	Prepare(ctx context.Context, batch []kafka.Message)
}

// Decoded keeps what a Preparer decoded from a batch's records, for
// Process to take once per record (by topic, partition and offset).
type Decoded[T any] map[recordKey]T

type recordKey struct {
	topic     string
	partition int
	offset    int64
}

// Put keeps v, decoded from m.
func (d Decoded[T]) Put(m kafka.Message, v T) { d[recordKey{m.Topic, m.Partition, m.Offset}] = v }

// Take returns what was kept for m, and forgets it.
func (d Decoded[T]) Take(m kafka.Message) (T, bool) {
	k := recordKey{m.Topic, m.Partition, m.Offset}
	v, ok := d[k]
	delete(d, k)
	return v, ok
}

// MaxBatch bounds the records handled between two commits.
const MaxBatch = 500

// Run consumes with a simple handler that publishes nothing through the
// batch (it may publish on its own).
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	return c.RunBatch(ctx, handlerProcessor(h))
}

// Simple makes a Processor of a handler that has no outputs.
func Simple(h Handler) Processor { return handlerProcessor(h) }

type handlerProcessor Handler

func (h handlerProcessor) Process(ctx context.Context, m kafka.Message) ([]kafka.Message, error) {
	return nil, h(ctx, m)
}

func (handlerProcessor) Flush(context.Context) error { return nil }

// RunBatch consumes until ctx ends, then closes the reader. Each round
// fetches what is available (up to MaxBatch, waiting only for the first
// record), processes the records in order, publishes all their outputs
// (and dead letters) in one write, flushes the processor, and commits. So a
// record is committed only after its outputs are durable. It returns nil on
// a clean shutdown.
func (c *Consumer) RunBatch(ctx context.Context, p Processor) error {
	// CPU profiles show each consumer group's processing apart (PPROF).
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("stage", c.Group())))
	defer func() { _ = c.r.Close() }()
	stop := make(chan struct{})
	defer close(stop)
	go c.reportLag(stop)
	guard, _ := p.(Guard)
	for {
		batch, err := c.fetch(ctx)
		if err != nil {
			return nil // ctx ended
		}
		if stop, err := c.handle(ctx, p, guard, batch); stop {
			return err
		}
	}
}

// handle processes a batch fetched, publishes its outputs and commits it,
// holding the gate (ConsumerConfig.Gate) for reading. stop: the consumer
// is done (ctx ended, or err).
func (c *Consumer) handle(ctx context.Context, p Processor, guard Guard, batch []kafka.Message) (stop bool, err error) {
	if g := c.cfg.Gate; g != nil {
		g.RLock()
		defer g.RUnlock()
	}
again:
	if guard != nil {
		if err := c.until(ctx, "state check", func() error { return ensure(ctx, guard) }, true); err != nil {
			return true, nil
		}
	}
	if pr, ok := p.(Preparer); ok {
		pr.Prepare(ctx, batch)
	}
	var outs []kafka.Message
	done := 0
	for _, m := range batch {
		if ctx.Err() != nil {
			break // shutting down: the rest stays uncommitted
		}
		o, err := c.process(ctx, p, m)
		if err != nil {
			break
		}
		outs = append(outs, o...)
		done++
	}
	if guard != nil && ctx.Err() == nil {
		// The state the batch was decided on vanished meanwhile (Redis
		// flushed): drop the decisions, rebuild, decide again.
		if ok, err := guard.Ready(ctx); err != nil || !ok {
			c.log.Warn("state lost while deciding a batch: rebuilding and deciding it again", "group", c.cfg.GroupID, "err", err)
			guard.Reset()
			goto again
		}
	}
	// Finish the batch: while running, for as long as it takes (a batch
	// whose outputs are not published must never be passed over: the
	// next commit would move past it); once shutdown has begun, for a few
	// seconds, so a clean stop does not redeliver what was handled.
	fctx, cancel := ctx, context.CancelFunc(func() {})
	if ctx.Err() != nil {
		fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	}
	err = c.finish(fctx, p, outs, batch[:done])
	cancel()
	return err != nil || ctx.Err() != nil, err
}

// Guard is implemented by a Processor whose decisions read state that can
// vanish (the Redis projections, flushed or lost): before each batch, and
// again before its outputs are published, the consumer checks Ready; when
// the state is gone it calls Rebuild (and Reset to drop the batch's
// decisions) and decides the batch again.
type Guard interface {
	Ready(ctx context.Context) (bool, error)
	Rebuild(ctx context.Context) error
	Reset()
}

func ensure(ctx context.Context, g Guard) error {
	ok, err := g.Ready(ctx)
	if err != nil || ok {
		return err
	}
	g.Reset()
	return g.Rebuild(ctx)
}

// Guarded adds a Guard to a Processor that has no batch state of its own.
func Guarded(p Processor, ready func(context.Context) (bool, error), rebuild func(context.Context) error) Processor {
	return guarded{p, ready, rebuild}
}

type guarded struct {
	Processor
	ready   func(context.Context) (bool, error)
	rebuild func(context.Context) error
}

// Prepare passes the batch to the processor if it is a Preparer.
func (g guarded) Prepare(ctx context.Context, batch []kafka.Message) {
	if pr, ok := g.Processor.(Preparer); ok {
		pr.Prepare(ctx, batch)
	}
}

func (g guarded) Ready(ctx context.Context) (bool, error) { return g.ready(ctx) }
func (g guarded) Rebuild(ctx context.Context) error       { return g.rebuild(ctx) }
func (g guarded) Reset() {
	if r, ok := g.Processor.(interface{ Reset() }); ok {
		r.Reset()
	}
}

// finish publishes the outputs, flushes the processor and commits.
func (c *Consumer) finish(ctx context.Context, p Processor, outs, handled []kafka.Message) error {
	if len(handled) == 0 {
		return nil
	}
	if err := c.until(ctx, "publish", func() error { return c.dlq.Publish(ctx, outs...) }, len(outs) > 0); err != nil {
		return fmt.Errorf("outputs of %d records not published: %w", len(handled), err) // ends the consumer: never skip a batch
	}
	if err := c.until(ctx, "flush", func() error {
		err := p.Flush(ctx)
		if g, ok := p.(Guard); ok && err != nil {
			// Redis flushed after the outputs were published: rebuild (the
			// rebuild replays them from Kafka) and drop the batch state.
			_ = ensure(ctx, g)
		}
		return err
	}, true); err != nil {
		return fmt.Errorf("batch of %d records not flushed: %w", len(handled), err)
	}
	// A commit that fails while the broker is away is retried; one that
	// still fails (this member lost the partitions in a rebalance) leaves
	// the records to the next owner, which handles them again idempotently.
	if err := c.until(ctx, "commit", func() error { return c.r.CommitMessages(ctx, handled...) }, true); err != nil {
		c.log.Warn("records not committed; they will be delivered again", "records", len(handled), "err", err)
		return nil
	}
	c.progress.Store(time.Now().UnixNano())
	return nil
}

// fetch waits for one record, then takes whatever else is already there.
func (c *Consumer) fetch(ctx context.Context) ([]kafka.Message, error) {
	var batch []kafka.Message
	for {
		m, err := c.r.FetchMessage(ctx)
		if err == nil && ctx.Err() == nil {
			batch = append(batch, m)
			break
		}
		// FetchMessage may return a buffered record after cancellation;
		// it stays uncommitted for the next member.
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.log.Warn("fetch failed", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	for len(batch) < MaxBatch {
		qctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		m, err := c.r.FetchMessage(qctx)
		cancel()
		if err != nil || ctx.Err() != nil {
			break
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// until retries f with backoff until it succeeds or ctx ends.
func (c *Consumer) until(ctx context.Context, what string, f func() error, needed bool) error {
	if !needed {
		return nil
	}
	backoff := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn(what+" failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// process runs p.Process with retries and backoff. A poison record
// (ErrPoison) becomes a dead letter among the outputs at once; a record that
// still fails after Attempts tries does too — but only while the servers the
// processor depends on answer (ConsumerConfig.Healthy): a failure while
// Redis or the broker is away is theirs, not the record's, so the record is
// retried until they are back (and /readyz reports the stall) instead of
// dead-lettering healthy records. It returns an error only when ctx ended.
func (c *Consumer) process(ctx context.Context, p Processor, m kafka.Message) ([]kafka.Message, error) {
	start := time.Now()
	backoff := 100 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		var outs []kafka.Message
		if outs, err = p.Process(ctx, m); err == nil {
			c.m.observe(c.cfg.GroupID, m.Topic, "ok", time.Since(start))
			return outs, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, ErrPoison) {
			break
		}
		if attempt >= c.cfg.Attempts && (c.cfg.Healthy == nil || c.cfg.Healthy(ctx) == nil) {
			break
		}
		c.log.Warn("handle failed, retrying", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "attempt", attempt, "err", err)
		if g, ok := p.(Guard); ok {
			if ready, rerr := g.Ready(ctx); rerr == nil && !ready {
				// The state vanished under the record (Redis flushed): rebuild
				// before trying again. Only processors without batch state
				// fail this way mid-batch (the projector); see RunBatch.
				_ = g.Rebuild(ctx)
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	c.log.Error("dead-lettering record", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
	c.m.observe(c.cfg.GroupID, m.Topic, "dlq", time.Since(start))
	dead := DeadLetter(c.dlqTo, c.cfg.GroupID, m, err)
	if len(dead.Value) > MaxRecordBytes {
		dead.Value = nil // keep the origin headers; the original stays in its topic
	}
	return []kafka.Message{dead}, nil
}

// DeadLetter builds the DLQ record for m: the original key and value, and
// headers naming the origin and the reason.
func DeadLetter(topic, group string, m kafka.Message, reason error) kafka.Message {
	hs := append([]kafka.Header{}, m.Headers...)
	hs = append(hs,
		kafka.Header{Key: "dlq.origin.topic", Value: []byte(m.Topic)},
		kafka.Header{Key: "dlq.origin.partition", Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: "dlq.origin.offset", Value: []byte(strconv.FormatInt(m.Offset, 10))},
		kafka.Header{Key: "dlq.group", Value: []byte(group)},
		kafka.Header{Key: "dlq.reason", Value: []byte(reason.Error())},
		kafka.Header{Key: "dlq.at", Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
	)
	return kafka.Message{Topic: topic, Key: m.Key, Value: m.Value, Headers: hs}
}

func (c *Consumer) reportLag(stop <-chan struct{}) {
	c.progress.Store(time.Now().UnixNano())
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s := c.r.Stats()
			c.lag.Store(max(s.Lag, 0))
			if c.m != nil {
				c.m.Lag.WithLabelValues(c.cfg.GroupID).Set(float64(max(s.Lag, 0)))
			}
		}
	}
}

// Metrics are the consumer-side Prometheus metrics.
type Metrics struct {
	Handled *prometheus.CounterVec
	Latency *prometheus.HistogramVec
	Lag     *prometheus.GaugeVec
}

// NewMetrics registers the consumer metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citybrain_consumer_records_total", Help: "Records handled, by group, topic and outcome (ok, dlq).",
		}, []string{"group", "topic", "outcome"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "citybrain_consumer_handle_seconds", Help: "Time to handle one record, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"group"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "citybrain_consumer_lag", Help: "Records behind the end of the log, as last seen by the reader.",
		}, []string{"group"}),
	}
	reg.MustRegister(m.Handled, m.Latency, m.Lag)
	return m
}

func (m *Metrics) observe(group, topic, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.Handled.WithLabelValues(group, topic, outcome).Inc()
	m.Latency.WithLabelValues(group).Observe(d.Seconds())
}
