package intake

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/event"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

func TestParseValid(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	r, err := Parse(event.Hotline, []byte(`{"ticket_no":"GD1","appeal_type":"投诉","category":"垃圾堆放","content":"垃圾","call_time":"2026-11-22 08:30:00","caller_phone":"13812345678","lon":120.13,"lat":32.51,"crs":"gcj02"}`), now, shanghai)
	if err != nil {
		t.Fatal(err)
	}
	if r.SourceRef != "GD1" || r.Category != "city.environment.garbage" || r.Severity != 4 || r.Department == "" {
		t.Fatalf("%+v", r)
	}
	if got := r.OccurredAt; !got.Equal(time.Date(2026, 11, 22, 0, 30, 0, 0, time.UTC)) {
		t.Fatalf("local time not converted: %v", got)
	}
	// GCJ-02 → WGS-84 moves the point by a few hundred metres near 姜堰.
	if r.Location == nil || math.Abs(r.Location.Lon-120.13) < 0.001 || r.OriginalCRS != "gcj02" {
		t.Fatalf("location %+v %s", r.Location, r.OriginalCRS)
	}
	// Address only: accepted, not located.
	r, err = Parse(event.Hotline, []byte(`{"ticket_no":"GD2","appeal_type":"咨询","content":"医保","address":"姜堰区"}`), now, shanghai)
	if err != nil || r.Location != nil || r.Category != "service.consult" {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestParseRefusesWithFieldAndReason(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		src   event.Source
		body  string
		field string
	}{
		{event.Hotline, `{"appeal_type":"投诉","content":"x","address":"a"}`, "ticket_no"},
		{event.Hotline, `{"ticket_no":"1","appeal_type":"抱怨","content":"x","address":"a"}`, "appeal_type"},
		{event.Hotline, `{"ticket_no":"1","appeal_type":"投诉","content":"x"}`, "address"},
		{event.Hotline, `{"ticket_no":"1","appeal_type":"投诉","content":"x","address":"a","caller_phone":"call me"}`, "caller_phone"},
		{event.Hotline, `{"ticket_no":"1","appeal_type":"投诉","content":"x","address":"a","call_time":"yesterday"}`, "call_time"},
		{event.Grid, `{"report_id":"1","worker_id":"w","category":"占道经营"}`, "lon"},
		{event.Grid, `{"report_id":"1","worker_id":"w","category":"占道经营","lon":120.1}`, "lon"},
		{event.Grid, `{"report_id":"1","worker_id":"w","category":"占道经营","lon":1e999,"lat":32}`, "lon"},
		{event.Grid, `{"report_id":"1","worker_id":"w","category":"占道经营","lon":200,"lat":32}`, "lon"},
		{event.Grid, `{"report_id":"1","worker_id":"w","category":"UFO","lon":120,"lat":32}`, "category"},
		{event.Grid, `{"report_id":"1","worker_id":"w","category":"占道经营","lon":120,"lat":32,"crs":"utm"}`, "crs"},
		{event.Grid, `{"report_id":["1"]}`, "report_id"},
		{event.Emergency, `{"alarm_id":"1","alarm_type":"119","level":7,"lon":120,"lat":32}`, "level"},
		{event.Traffic, `{"event_id":"1","event_type":"accident","lon":120,"lat":32,"speed_kmh":-1}`, "speed_kmh"},
		{event.Hotline, `{"ticket_no":"` + strings.Repeat("x", 200) + `","appeal_type":"投诉","content":"x","address":"a"}`, "ticket_no"},
	} {
		_, err := Parse(tc.src, []byte(tc.body), now, shanghai)
		var es Errors
		if !errors.As(err, &es) {
			t.Errorf("%s %s: err %v", tc.src, tc.body, err)
			continue
		}
		found := false
		for _, e := range es {
			found = found || (e.Field == tc.field && e.Reason != "")
		}
		if !found {
			t.Errorf("%s %.60s: %v does not name %s", tc.src, tc.body, es, tc.field)
		}
	}
}

func TestSplitArray(t *testing.T) {
	for body, want := range map[string]int{`{"a":1}`: 1, ` [{"a":1},{"b":2}] `: 2} {
		items, err := SplitArray([]byte(body))
		if err != nil || len(items) != want {
			t.Errorf("%s: %d %v", body, len(items), err)
		}
	}
	for _, body := range []string{``, `[]`, `[1,`, `{"a":`, `"str"`, "\xff"} {
		if _, err := SplitArray([]byte(body)); err == nil {
			t.Errorf("%q accepted", body)
		}
	}
}

// FuzzParse: no input makes a parser panic, and what it accepts has a
// finite, in-range location and valid text (one bad GPS fix must never
// reach a broadcast).
func FuzzParse(f *testing.F) {
	f.Add("hotline", `{"ticket_no":"1","appeal_type":"投诉","content":"x","lon":120.1,"lat":32.5}`)
	f.Add("grid", `{"report_id":"1","worker_id":"w","category":"占道经营","lon":120,"lat":32,"photos":["a"]}`)
	f.Add("emergency", `{"alarm_id":"1","alarm_type":"119","level":2,"lon":120,"lat":32}`)
	f.Add("traffic", `[{"event_id":"1","event_type":"accident","lon":120,"lat":32}]`)
	f.Fuzz(func(t *testing.T, src, body string) {
		items, err := SplitArray([]byte(body))
		if err != nil {
			return
		}
		for _, it := range items {
			r, err := Parse(event.Source(src), it, time.Now(), time.UTC)
			if err != nil {
				continue
			}
			if r.Location != nil && !r.Location.Valid() {
				t.Fatalf("accepted invalid location %+v", r.Location)
			}
			if r.SourceRef == "" || r.Category == "" {
				t.Fatalf("accepted without id or category: %+v", r)
			}
		}
	})
}
