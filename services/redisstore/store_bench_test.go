package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// The projection and fusion scripts' cost per change and per report, on
// the embedded Redis (make test's miniredis, where every redis.call inside
// a script allocates and parses like a command) or a real one
// (TEST_REDIS_ADDR). go test -run '^$' -bench 'Apply|Fuse' ./services/redisstore

// BenchmarkApplyAll: a batch of 100 incidents opened at a point and
// dispatched (200 changes), as the dispatcher applies them.
func BenchmarkApplyAll(b *testing.B) {
	s := testenv.Store(b)
	ctx := b.Context()
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	lcs := make([]event.Lifecycle, 0, 200)
	b.ResetTimer()
	for i := range b.N {
		lcs = lcs[:0]
		for j := range 100 {
			id := fmt.Sprintf("INC-%d-%d", i, j)
			at := t0.Add(time.Duration(i*100+j) * time.Millisecond)
			p := &event.Point{Lon: 120.0 + float64(j%10)*0.01, Lat: 32.5 + float64(j/10)*0.01}
			open := lifecycle(id, 1, event.Received, at, event.Grid)
			open.Incident.Category, open.Incident.Location, open.Incident.LastSeen = "road.pothole", p, at
			disp := lifecycle(id, 2, event.Dispatched, at.Add(time.Second), "")
			disp.Incident.Category, disp.Incident.Location, disp.Incident.LastSeen = "road.pothole", p, at
			lcs = append(lcs, open, disp)
		}
		if _, err := s.ApplyAll(ctx, lcs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lcs))/1000, "µs/change")
}

// BenchmarkFuseAll: batches of 64 reports in clusters of four 20 m apart,
// so a quarter open an incident and the rest join one.
func BenchmarkFuseAll(b *testing.B) {
	s := testenv.Store(b)
	ctx := b.Context()
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	qs := make([]redisstore.FuseQuery, 64)
	b.ResetTimer()
	for i := range b.N {
		for j := range qs {
			n := i*64 + j
			qs[j] = redisstore.FuseQuery{EventID: fmt.Sprintf("ev-%d", n), Family: "road",
				Lon: 120.0 + float64(n/4%400)*0.002 + float64(n%4)*0.0002, Lat: 32.5 + float64(n/1600%100)*0.002,
				RadiusM: 100, Window: 72 * time.Hour, At: t0.Add(time.Duration(n) * time.Millisecond), NewID: fmt.Sprintf("inc-%d", n)}
		}
		if _, err := s.FuseAll(ctx, qs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(qs))/1000, "µs/report")
}
