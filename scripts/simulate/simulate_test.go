package simulate

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/gis/sample"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/intake"
)

// Every record the simulator makes is valid input that lands in the city:
// the simulator is also the load generator, and a refused record would
// count as a failure.
func TestRecordsAreValid(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	g := New(city, 7, DefaultMix, "t")
	now := time.Now()
	for i := 0; i < 5000; i++ {
		rec := g.Next(now)
		b, _ := json.Marshal(rec.Body)
		src, _ := event.ParseSource(rec.Source)
		r, err := intake.Parse(src, bytes.Clone(b), now, time.UTC)
		if err != nil {
			t.Fatalf("record %d (%s) refused: %v\n%s", i, rec.Source, err, b)
		}
		if r.Location != nil {
			p := [2]float64{r.Location.Lon, r.Location.Lat}
			if _, err := city.Locate(p); err != nil {
				t.Fatalf("record %d (%s) outside the city: %v\n%s", i, rec.Source, p, b)
			}
		}
	}
}
