package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/citybrain-ioc/citybrain/gis/sample"
	"github.com/citybrain-ioc/citybrain/services/auth"
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
	located, busy := 0, 0
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
			place, err := city.Locate(p)
			if err != nil {
				t.Fatalf("record %d (%s) outside the city: %v\n%s", i, rec.Source, p, b)
			}
			located++
			if place.Grid.Code == demoWorkerGrid {
				busy++
			}
		}
	}
	// The demo worker's cell gets about one report in busyShare (his phone
	// has work to show), not one in the several hundred cells.
	if share := float64(busy) / float64(located); share < 0.5/busyShare || share > 2.0/busyShare {
		t.Errorf("%d of %d located reports in the demo worker's cell %s (%.3f), want about 1/%d", busy, located, demoWorkerGrid, share, busyShare)
	}
}

// The points the simulator sends as WGS-84 with 6 decimals land in the
// city once rounded: a point right at the boundary used to be checked
// before rounding, and now and then one was refused (422: one of the 3,671
// reports of a CI fault test, which counted it).
func TestRoundedPointsStayInside(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	g := New(city, 7, DefaultMix, "t")
	// A point just inside the district's boundary whose 6 decimals are
	// outside it (where a load run's emergency alarm was refused).
	spot := orb.Point{120.029498, 32.566252}
	if g.inside(spot) {
		t.Fatalf("%v: inside the city; the test wants a point rounded out of it", spot)
	}
	var near orb.Point
	for dx := -5; dx <= 5 && near == (orb.Point{}); dx++ {
		for dy := -5; dy <= 5; dy++ {
			if p := (orb.Point{spot[0] + float64(dx)*1e-7, spot[1] + float64(dy)*1e-7}); g.inside(p) && (orb.Point{round6(p[0]), round6(p[1])}) == spot {
				near = p
				break
			}
		}
	}
	if near == (orb.Point{}) {
		t.Fatalf("no point inside the city rounds to %v", spot)
	}
	if q, ok := g.wgs(near); ok || q != spot {
		t.Errorf("wgs(%v) = %v, %v: want %v refused", near, q, ok, spot)
	}
	now := time.Now()
	for i := range 10000 {
		rec := g.emergency(now)
		if i%2 == 1 {
			rec = g.traffic(now)
		}
		lon, lat := rec.Body["lon"].(float64), rec.Body["lat"].(float64)
		if _, err := city.Locate([2]float64{lon, lat}); err != nil || round6(lon) != lon || round6(lat) != lat {
			t.Fatalf("record %d (%s) at (%v, %v): %v", i, rec.Source, lon, lat, err)
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
// its dwell; gives each to the duty worker of its grid cell (the demo
// worker in his own cell, the roster's "gw-<cell>" elsewhere) and acts as
// that worker, logging in when it first does; leaves warnings (CAP, with an
// area) alone: they are in force until they expire or are cancelled;
// visits closed cases; and logs in again when its token is refused
// (tokens expire after 12 hours).
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
				_, _ = w.Write([]byte(`{"total":9,"items":[
					{"id":"INC-NEW","version":1,"state":"received","updated_at":"2026-12-06T09:59:58Z"},
					{"id":"INC-T2","version":2,"state":"filed","updated_at":"2026-12-06T09:50:00Z","place":{"grid":{"code":"321204004012004"}}},
					{"id":"INC-T1","version":1,"state":"received","updated_at":"2026-12-06T09:40:00Z"},
					{"id":"INC-D2","version":3,"state":"dispatched","updated_at":"2026-12-06T09:35:00Z","task":{"worker_id":"gw-321204001001001"}},
					{"id":"INC-D1","version":2,"state":"dispatched","updated_at":"2026-12-06T09:30:00Z","task":{"department":"交通运输局"},"place":{"grid":{"code":"321204001001001"}}},
					{"id":"INC-A","version":2,"state":"filed","category":"traffic.accident","updated_at":"2026-12-06T09:25:00Z","place":{"grid":{"code":"321204001001001"}}},
					{"id":"INC-F","version":2,"state":"dispatched","category":"emergency.fire","updated_at":"2026-12-06T09:20:00Z","task":{"department":"消防救援大队"},"place":{"grid":{"code":"321204001001001"}}},
					{"id":"INC-P","version":3,"state":"dispatched","category":"emergency.public_security","updated_at":"2026-12-06T09:10:00Z","task":{"department":"公安局","worker_id":"someone"}},
					{"id":"INC-W","version":1,"state":"received","updated_at":"2026-12-06T09:00:00Z","area":{"type":"Polygon","coordinates":[[[120,32],[120.1,32],[120.1,32.1],[120,32]]]}}]}`))
			}
		default:
			var body struct {
				WorkerID   string `json:"worker_id"`
				Department string `json:"department"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			acted = append(acted, strings.TrimSpace(r.URL.Path+" "+r.Header.Get("Authorization")+" "+body.WorkerID+" "+body.Department))
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
		"/api/v1/tasks/INC-P/reassign Bearer t4 " + auth.DutyID("公安局") + " 公安局", // a police matter with someone else: to the police's duty officer
		"/api/v1/tasks/INC-F/accept Bearer t5",                                  // the fire brigade's duty officer, logged in now: not a grid worker
		"/api/v1/tasks/INC-A/dispatch Bearer t4",                                // a traffic accident: to the department routing names, no worker
		"/api/v1/tasks/INC-D1/reassign Bearer t4 gw-321204001001001 交通运输局",      // the dispatcher logged in again (3 logins at the start)
		"/api/v1/tasks/INC-D2/accept Bearer t6",                                 // as the roster worker, logged in now
		"/api/v1/tasks/INC-T1/file Bearer t4",
		"/api/v1/tasks/INC-T2/dispatch Bearer t4 worker", // the demo worker's own cell
		"/api/v1/tasks/INC-C/visit Bearer t4",
	}
	if !slices.Equal(acted, want) {
		t.Fatalf("acted on\n%v\nwant (oldest first; not the warning, not the case changed 2 s ago)\n%v", acted, want)
	}
}
