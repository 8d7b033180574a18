package projection_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/projection"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// BenchmarkBatch projects batches of 200 changes the dispatcher has applied
// already (what the projector mostly sees), reading each change's version
// on its own and with Prepare's one read per batch, on the test's Redis
// (TEST_REDIS_ADDR for a real one):
//
//	go test -run '^$' -bench Batch ./services/projection
func BenchmarkBatch(b *testing.B) {
	for _, prepare := range []bool{false, true} {
		name := "per-record"
		if prepare {
			name = "prepare"
		}
		b.Run(name, func(b *testing.B) {
			st := testenv.Store(b)
			p := projection.New(st, slog.New(slog.DiscardHandler))
			t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
			lcs := make([]event.Lifecycle, 200)
			batch := make([]kafka.Message, len(lcs))
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				for j := range lcs {
					n := i*len(lcs) + j
					lcs[j] = change(fmt.Sprintf("INC-%d-%d", i, j/2), 1+j%2, []event.State{event.Received, event.Dispatched}[j%2], t0.Add(time.Duration(n)*time.Millisecond))
					v, _ := wire.Marshal(lcs[j])
					batch[j] = kafka.Message{Topic: "tasks", Offset: int64(n), Value: v}
				}
				if _, err := st.ApplyAll(b.Context(), lcs); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if prepare {
					p.Prepare(b.Context(), batch)
				}
				for _, m := range batch {
					if _, err := p.Process(b.Context(), m); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch))/1000, "µs/change")
		})
	}
}
