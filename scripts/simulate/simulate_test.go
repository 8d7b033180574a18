package simulate

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
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

// The demo staff moves cases along but leaves warnings (CAP, with an area)
// alone: they are in force until they expire or are cancelled.
func TestStaffLeavesWarningsAlone(t *testing.T) {
	var acted []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/auth/login":
			_, _ = w.Write([]byte(`{"token":"t"}`))
		case "/api/v1/incidents":
			_, _ = w.Write([]byte(`{"items":[
				{"id":"INC-W","version":1,"state":"received","area":{"type":"Polygon","coordinates":[[[120,32],[120.1,32],[120.1,32.1],[120,32]]]}},
				{"id":"INC-T","version":1,"state":"received","area":null}]}`))
		default:
			acted = append(acted, r.URL.Path)
		}
	}))
	defer srv.Close()
	s, err := NewStaff(t.Context(), srv.URL, srv.Client(), 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(acted) != 1 || acted[0] != "/api/v1/tasks/INC-T/file" {
		t.Fatalf("acted on %v, want only the ticket filed", acted)
	}
}
