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

// Committed returns the offsets a consumer group has committed on each
// partition of topic (the next record it would read); a partition the
// group has committed nothing on is left out.
func Committed(ctx context.Context, brokers []string, group, topic string) (map[int]int64, error) {
	ids, err := Partitions(ctx, brokers, topic)
	if err != nil {
		return nil, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of %s on %s: %w", group, topic, err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of %s on %s/%d: %w", group, topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}

// Partitions returns the ids of topic's partitions, as the first broker
// knows them.
func Partitions(ctx context.Context, brokers []string, topic string) ([]int, error) {
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return nil, err
	}
	parts, err := conn.ReadPartitions(topic)
	_ = conn.Close()
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	ids := make([]int, len(parts))
	for i, p := range parts {
		ids[i] = p.ID
	}
	return ids, nil
}
