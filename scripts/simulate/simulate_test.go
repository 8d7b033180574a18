package simulate

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
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

// The patrol stays in its grid cells and keeps moving.
func TestFleetPatrolsItsCells(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	cells := PickCells(city, 60)
	if len(cells) != 60 || cells[0] == cells[1] {
		t.Fatalf("cells: %v", cells[:2])
	}
	f := &Fleet{city: city, r: rand.New(rand.NewPCG(1, 2))}
	for _, c := range cells {
		p, _ := city.RandomPointIn(c, f.r)
		f.men = append(f.men, &patroller{id: "gw-" + c, grid: c, at: p, goal: p})
	}
	start := f.men[0].at
	for range 200 {
		for _, p := range f.men {
			f.move(p)
			if pl, err := city.Locate(p.at); err != nil || pl.Grid.Code != p.grid {
				t.Fatalf("%s left its cell: %v", p.id, p.at)
			}
		}
	}
	if f.men[0].at == start {
		t.Error("the patrol did not move")
	}
}
