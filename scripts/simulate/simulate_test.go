package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
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

// The demo staff moves cases along, the longest waiting first, each after
// its dwell; leaves warnings (CAP, with an area) alone: they are in force
// until they expire or are cancelled; visits closed cases; and logs in
// again when its token is refused (tokens expire after 12 hours).
func TestStaffMovesCasesInTurn(t *testing.T) {
	var acted []string
	logins, refuse := 0, true
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/auth/login":
			logins++
			_, _ = fmt.Fprintf(w, `{"token":"t%d"}`, logins)
		case "/api/v1/incidents":
			if refuse {
				refuse = false
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			switch q := r.URL.Query(); {
			case q.Get("state") == "closed":
				_, _ = w.Write([]byte(`{"total":1,"items":[{"id":"INC-C","version":8,"state":"closed","updated_at":"2026-12-06T09:00:00Z"}]}`))
			case q.Get("limit") == "1":
				_, _ = w.Write([]byte(`{"total":4,"items":[]}`))
			default: // newest first
				_, _ = w.Write([]byte(`{"total":4,"items":[
					{"id":"INC-NEW","version":1,"state":"received","updated_at":"2026-12-06T09:59:58Z"},
					{"id":"INC-T2","version":2,"state":"filed","updated_at":"2026-12-06T09:50:00Z"},
					{"id":"INC-T1","version":1,"state":"received","updated_at":"2026-12-06T09:40:00Z"},
					{"id":"INC-W","version":1,"state":"received","updated_at":"2026-12-06T09:00:00Z","area":{"type":"Polygon","coordinates":[[[120,32],[120.1,32],[120.1,32.1],[120,32]]]}}]}`))
			}
		default:
			acted = append(acted, r.URL.Path+" "+r.Header.Get("Authorization"))
		}
	}))
	defer srv.Close()
	s, err := NewStaff(t.Context(), srv.URL, srv.Client(), 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	if err := s.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/api/v1/tasks/INC-T1/file Bearer t4", // the dispatcher logged in again (3 logins at the start)
		"/api/v1/tasks/INC-T2/dispatch Bearer t4",
		"/api/v1/tasks/INC-C/visit Bearer t4",
	}
	if !slices.Equal(acted, want) {
		t.Fatalf("acted on\n%v\nwant (oldest first; not the warning, not the case changed 2 s ago)\n%v", acted, want)
	}
}
