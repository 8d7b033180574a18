package kafkabus

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// OffsetsRetry is how long Offsets keeps trying.
const OffsetsRetry = 30 * time.Second

// Offsets returns the first and end offsets of a partition from its
// leader, retrying for up to OffsetsRetry: right after a topic is created,
// or while a broker restarts, the partition may have no leader yet ("Not
// Leader For Partition", "Leader Not Available").
func Offsets(ctx context.Context, brokers []string, topic string, partition int) (first, last int64, err error) {
	deadline := time.Now().Add(OffsetsRetry)
	for {
		var leader *kafka.Conn
		leader, err = kafka.DialLeader(ctx, "tcp", brokers[0], topic, partition)
		if err == nil {
			first, last, err = leader.ReadOffsets()
			_ = leader.Close()
			if err == nil {
				return first, last, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, 0, fmt.Errorf("%s/%d offsets: %w", topic, partition, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
