package kafkabus

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Message is a record to publish: topic, key, value and headers.
type Message = kafka.Message

// Producer publishes records and returns only after every in-sync replica
// has them. It is safe for concurrent use.
type Producer struct {
	w *kafka.Writer
}

// NewProducer returns a producer for the brokers. maxBytes bounds one
// record (larger ones are refused before they reach the broker).
func NewProducer(brokers []string) *Producer {
	return &Producer{w: &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           2 * time.Millisecond,
		BatchSize:              500,
		MaxAttempts:            5,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		ReadTimeout:            10 * time.Second,
		WriteTimeout:           10 * time.Second,
		Compression:            kafka.Snappy,
		AllowAutoTopicCreation: false,
	}}
}

// WithBatchTimeout sets how long the producer waits to fill a batch (2 ms
// by default) and returns it; call it before the first Publish. A longer
// wait makes fewer, larger batches: fewer writes (and fsyncs) for the
// broker, at that much latency per record.
func (p *Producer) WithBatchTimeout(d time.Duration) *Producer {
	p.w.BatchTimeout = d
	return p
}

// MaxRecordBytes is the largest record value the producer accepts; the
// broker default (message.max.bytes) is about 1 MiB.
const MaxRecordBytes = 900 << 10

// ErrTooLarge is returned for a record over MaxRecordBytes.
var ErrTooLarge = fmt.Errorf("record larger than %d bytes", MaxRecordBytes)

// Publish writes the messages synchronously. On error some of them may
// have landed (kafka-go has no idempotent producer): consumers dedupe.
func (p *Producer) Publish(ctx context.Context, msgs ...Message) error {
	for _, m := range msgs {
		if len(m.Value) > MaxRecordBytes {
			return fmt.Errorf("publish to %s: %w", m.Topic, ErrTooLarge)
		}
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publish %d record(s): %w", len(msgs), err)
	}
	return nil
}

// Close flushes and closes the writer.
func (p *Producer) Close() error { return p.w.Close() }
