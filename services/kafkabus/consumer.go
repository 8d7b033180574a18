package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
}

// Consumer is one member of a consumer group: fetch → handle → commit.
type Consumer struct {
	cfg   ConsumerConfig
	r     *kafka.Reader
	dlq   *Producer
	dlqTo string
	log   *slog.Logger
	m     *Metrics
}

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

// Run consumes until ctx ends, then closes the reader (committing what was
// handled). It returns nil on a clean shutdown.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	defer c.r.Close()
	stop := make(chan struct{})
	defer close(stop)
	go c.reportLag(stop)
	for {
		m, err := c.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("fetch failed", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if ctx.Err() != nil {
			// FetchMessage may return a buffered record after cancellation;
			// leave it uncommitted for the next member.
			return nil
		}
		if err := c.handle(ctx, h, m); err != nil {
			if ctx.Err() != nil {
				return nil // not committed: it is delivered again after restart
			}
			return err
		}
		// Commit what was handled even when shutdown has begun, so a clean
		// stop does not redeliver it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = c.r.CommitMessages(cctx, m)
		cancel()
		if err != nil {
			return fmt.Errorf("commit %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
		}
	}
}

// handle runs h with bounded retries, then dead-letters the record. It
// returns an error only when even the DLQ write failed for good or ctx ended.
func (c *Consumer) handle(ctx context.Context, h Handler, m kafka.Message) error {
	start := time.Now()
	backoff := 100 * time.Millisecond
	var err error
	for attempt := 1; attempt <= c.cfg.Attempts; attempt++ {
		if err = h(ctx, m); err == nil {
			c.m.observe(c.cfg.GroupID, m.Topic, "ok", time.Since(start))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrPoison) {
			break
		}
		c.log.Warn("handle failed, retrying", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	c.log.Error("dead-lettering record", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
	c.m.observe(c.cfg.GroupID, m.Topic, "dlq", time.Since(start))
	dead := DeadLetter(c.dlqTo, c.cfg.GroupID, m, err)
	for {
		derr := c.dlq.Publish(ctx, dead)
		if derr == nil {
			return nil
		}
		if errors.Is(derr, ErrTooLarge) {
			dead.Value = nil // keep the origin headers; the original stays in its topic
			continue
		}
		c.log.Error("dead-letter write failed, retrying", "err", derr)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
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
	if c.m == nil {
		return
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s := c.r.Stats()
			c.m.Lag.WithLabelValues(c.cfg.GroupID).Set(float64(max(s.Lag, 0)))
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
