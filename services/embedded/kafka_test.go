package embedded

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// What the broker acknowledged is there after it is closed and started
// again on the same data directory, with and without an fsync per batch.
func TestKafkaLogSurvivesARestart(t *testing.T) {
	for _, sync := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			k, err := StartKafka(dir, 0, sync)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := kafka.DialContext(ctx, "tcp", k.Brokers()[0])
			if err != nil {
				t.Fatal(err)
			}
			err = conn.CreateTopics(kafka.TopicConfig{Topic: "t", NumPartitions: 1, ReplicationFactor: 1})
			_ = conn.Close()
			if err != nil {
				t.Fatal(err)
			}
			w := &kafka.Writer{Addr: kafka.TCP(k.Brokers()...), Topic: "t", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
			for i := range 20 {
				if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(fmt.Sprint(i))}); err != nil {
					t.Fatal(err)
				}
			}
			_ = w.Close()
			k.Close()

			k, err = StartKafka(dir, 0, sync)
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			leader, err := kafka.DialLeader(ctx, "tcp", k.Brokers()[0], "t", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = leader.Close() }()
			if last, err := leader.ReadLastOffset(); err != nil || last != 20 {
				t.Fatalf("after the restart the log ends at %d (%v), want 20", last, err)
			}
		})
	}
}
