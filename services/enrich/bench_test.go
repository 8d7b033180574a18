package enrich

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/gis/sample"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/wire"
	"github.com/segmentio/kafka-go"
)

// rawRecords returns raw.<source> records of the simulator's mix.
func rawRecords(b testing.TB) []kafka.Message {
	bodies := []struct {
		src  event.Source
		body string
	}{
		{event.Hotline, `{"ticket_no":"GD%d","call_time":"2026-11-22 09:30:00","appeal_type":"投诉","category":"垃圾堆放","content":"小区门口垃圾堆了好几天没人清运，气味很大","address":"泰州市姜堰区三水街道某社区12号","caller_name":"张先生","caller_phone":"13812345678","channel":"APP","lon":120.132,"lat":32.514,"crs":"gcj02"}`},
		{event.Grid, `{"report_id":"WG%d","worker_id":"W000123","grid_code":"321204001001001","category":"占道经营","description":"店外经营，占用人行道","lon":120.10,"lat":32.50,"crs":"wgs84","photos":["photos/20261122/1.jpg"],"reported_at":"2026-11-22T09:30:00+08:00"}`},
		{event.Emergency, `{"alarm_id":"JJ%d","alarm_type":"smoke","category":"烟感报警","level":3,"description":"独立式烟感探测器报警","lon":120.15,"lat":32.55,"crs":"wgs84","occurred_at":"2026-11-22T09:30:00+08:00","device_id":"YG-0012"}`},
		{event.Traffic, `{"event_id":"JT%d","event_type":"congestion","road":"S229","description":"S229车流缓行","lon":120.05,"lat":32.45,"crs":"wgs84","speed_kmh":12,"occurred_at":"2026-11-22T09:30:00+08:00"}`},
	}
	var out []kafka.Message
	for i := range 400 {
		bd := bodies[i%len(bodies)]
		ref := fmt.Sprint(i)
		raw := event.Raw{Schema: event.Schema, ID: event.EventID(bd.src, ref), Source: bd.src, SourceRef: ref, ReceivedAt: time.Now(),
			ContentType: "application/json", Body: json.RawMessage(fmt.Sprintf(bd.body, i))}
		b2, err := json.Marshal(raw)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, kafka.Message{Topic: kafkabus.Topics{}.Raw(string(bd.src)), Value: b2})
	}
	return out
}

// BenchmarkEnrichCore is the enricher's path without I/O: decode the raw
// record with its body, normalise (parse, CRS, taxonomy), locate, nearest
// resources, encode the event. The fusion decision is a Redis round trip and is
// measured by BenchmarkFuse. Reports events/s on one core.
func BenchmarkEnrichCore(b *testing.B) {
	city, err := sample.Load()
	if err != nil {
		b.Fatal(err)
	}
	e := New(city, nil, nil, kafkabus.Topics{}, time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	recs := rawRecords(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := recs[i%len(recs)]
		ev, err := e.NormaliseRecord(m.Topic, m.Value)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := encodeEvent(&ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEnrichCoreStdlib is the same path with encoding/json as the
// codec: the baseline BenchmarkEnrichCore is compared with.
func BenchmarkEnrichCoreStdlib(b *testing.B) {
	wire.UseStdlib(true)
	defer wire.UseStdlib(false)
	BenchmarkEnrichCore(b)
}
