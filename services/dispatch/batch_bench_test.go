package dispatch

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
)

// BenchmarkBatch decides consumer batches of 200 events (150 new
// incidents, 50 reports joining them) as the consumer does, with Prepare
// (one pipelined read per batch) and without it (three reads per event:
// the baseline), on the embedded Redis or a real one (TEST_REDIS_ADDR,
// where every read is a round trip). Publishing is recorded, not sent.
//
//	go test -run '^$' -bench Batch ./services/dispatch
func BenchmarkBatch(b *testing.B) {
	for _, prepare := range []bool{false, true} {
		name := "per-record"
		if prepare {
			name = "prepare"
		}
		b.Run(name, func(b *testing.B) {
			st := testenv.Store(b)
			topics := kafkabus.Topics{Prefix: "x."}
			d := New(st, &testenv.Publisher{}, topics, defaultRules(b), slog.New(slog.NewTextHandler(io.Discard, nil)))
			t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
			batch := make([]kafka.Message, 200)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				for j := range batch {
					ev := sampleEvent()
					n := i*len(batch) + j
					ev.ID, ev.SourceRef = fmt.Sprintf("EV-%d", n), fmt.Sprintf("R-%d", n)
					ev.IncidentID = fmt.Sprintf("INC-%d-%d", i, j%150)
					ev.ReceivedAt = t0.Add(time.Duration(n) * time.Millisecond)
					v, _ := json.Marshal(ev)
					batch[j] = kafka.Message{Topic: topics.Events(), Offset: int64(n), Value: v}
				}
				b.StartTimer()
				if prepare {
					d.Prepare(b.Context(), batch)
				}
				for _, m := range batch {
					if _, err := d.Process(b.Context(), m); err != nil {
						b.Fatal(err)
					}
				}
				if err := d.Flush(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch))/1000, "µs/event")
		})
	}
}
