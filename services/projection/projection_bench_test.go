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

// BenchmarkRebuild replays a tasks topic of 2,000 incidents (about 4,800
// changes: mixedHistory) from the test's broker into an empty store, one
// change per script call (how a rebuild did it until 2026-12-07: the
// baseline) and in batches (how it does now), and prints changes replayed
// a second (TEST_KAFKA_BROKERS and TEST_REDIS_ADDR for real ones):
//
//	go test -run '^$' -bench Rebuild ./services/projection
func BenchmarkRebuild(b *testing.B) {
	h := newHistory(b)
	h.mixedHistory(2000, time.Now().UTC().Add(-24*time.Hour))
	msgs := h.publish()
	log := slog.New(slog.DiscardHandler)
	for _, batch := range []int{1, 1000} {
		name := "one-by-one"
		if batch > 1 {
			name = fmt.Sprintf("batches-of-%d", batch)
		}
		b.Run(name, func(b *testing.B) {
			defer projection.SetReplayBatch(batch)()
			st := testenv.Store(b)
			for b.Loop() {
				b.StopTimer()
				if err := st.Flush(b.Context()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if n, err := projection.Rebuild(b.Context(), st, h.brokers, h.topics.Tasks(), 0, log); err != nil || n != len(msgs) {
					b.Fatalf("replayed %d of %d: %v", n, len(msgs), err)
				}
			}
			b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "changes/s")
		})
	}
}
